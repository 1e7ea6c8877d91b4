"""Postback requests from templates: `{name|filter:arg}`, each value encoded for its slot."""

import base64
import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import quote, quote_plus, urlencode, urlsplit, urlunsplit

from standardwebhooks.webhooks import Webhook

from connectors.money import exponent, to_string

MACRO = re.compile(r"\{([a-z_][a-z0-9_]*)(?:\|([a-z0-9_]+)(?::([^{}]*))?)?\}")
MACROS = {
    "click_id", "amount", "currency", "txn_id", "order_id", "event", "coupon", "coupons",
    "email_sha256", "customer_id", "source", "platform", "timestamp", "is_test", "refund_id",
}
MESSAGE_ID = "_message_id"  # not a macro: the Standard Webhooks message id
REFUND_KINDS = ("refund", "reversal")
FORM, JSON = "application/x-www-form-urlencoded", "application/json"
JSON_NUMBER_FILTERS = ("number", "cents")
FILTERS = {"cents", "decimals", "upper", "lower", "sha256", "date", "number"}


class TemplateError(ValueError):
    """A template that names an unknown macro or filter."""


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: dict = field(default_factory=dict)
    body: bytes | None = None


def check(template: str, var_names=()) -> None:
    """Raise TemplateError for unknown macros or filters."""
    for name, filter_name, _arg in MACRO.findall(template):
        if name not in MACROS and name not in var_names:
            raise TemplateError(f"unknown macro {{{name}}}")
        if filter_name and filter_name not in FILTERS:
            raise TemplateError(f"unknown filter |{filter_name}")


def render_url(template: str, values: dict, trusted: dict) -> str:
    """Vars stand in raw (host, path); payload values are encoded for path or query."""
    url = _substitute_vars(template, trusted)
    parts = urlsplit(url)
    path = "/".join(_substitute(segment, values, _path_slot) for segment in parts.path.split("/"))
    query = "&".join(_render_pair(pair, values) for pair in parts.query.split("&") if pair)
    return urlunsplit((parts.scheme, parts.netloc, path, query, parts.fragment))


def _render_pair(pair: str, values: dict) -> str:
    key, _, value = pair.partition("=")
    return f"{_substitute(key, values, _query_slot)}={_substitute(value, values, _query_slot)}"


def _path_slot(value) -> str:
    return quote(str(value), safe="")


def _query_slot(value) -> str:
    return quote(str(value), safe="")


def render_text(template: str, values: dict) -> str:
    """A header or form value: plain text, with line breaks removed (no header injection)."""
    return _substitute(template, values, lambda v: re.sub(r"[\r\n]", " ", str(v)))


def render_json(template, values: dict, numbers: list | None = None):
    """A YAML mapping body: each string rendered; a whole `|number` or `|cents` is a JSON number.

    Numbers are collected in `numbers` (exact decimal text) and stand in as placeholders, so
    money never passes through a float.
    """
    numbers = [] if numbers is None else numbers
    if isinstance(template, dict):
        return {k: render_json(v, values, numbers) for k, v in template.items()}
    if isinstance(template, list):
        return [render_json(v, values, numbers) for v in template]
    if isinstance(template, str):
        whole = MACRO.fullmatch(template)
        if whole and whole.group(2) in JSON_NUMBER_FILTERS:
            numbers.append(str(Decimal(apply(values, *whole.groups()) or 0)))
            return len(numbers) - 1
        return _substitute(template, values, str)
    return template


def dumps_json(template, values: dict) -> bytes:
    """The JSON body text, numbers written exactly as decimals."""
    numbers: list[str] = []
    marker = f"\x00{secrets.token_hex(8)}:"
    tree = _mark_numbers(render_json(template, values, numbers), template, marker)
    text = json.dumps(tree)
    for index, number in enumerate(numbers):
        text = text.replace(json.dumps(f"{marker}{index}"), number, 1)
    return text.encode()


def _mark_numbers(tree, template, marker: str):
    """Swap the number indexes render_json left for unique placeholder strings."""
    if isinstance(template, dict):
        return {k: _mark_numbers(tree[k], v, marker) for k, v in template.items()}
    if isinstance(template, list):
        return [_mark_numbers(t, v, marker) for t, v in zip(tree, template, strict=True)]
    if isinstance(template, str) and isinstance(tree, int):
        return f"{marker}{tree}"
    return tree


def render_form(template: dict, values: dict) -> bytes:
    return urlencode({k: render_text(str(v), values) for k, v in template.items()}).encode()


def _substitute(template: str, values: dict, encode) -> str:
    return MACRO.sub(lambda m: encode(apply(values, *m.groups())), template)


def _substitute_vars(template: str, trusted: dict) -> str:
    """A network's own vars (trusted, from config) stand in raw; other macros are left."""
    return MACRO.sub(lambda m: apply(trusted, *m.groups()) if m.group(1) in trusted
                     else m.group(0), template)


def apply(values: dict, name: str, filter_name: str = "", arg: str = "") -> str:
    """One macro's text: the value, through its filter."""
    value = values.get(name, "")
    if not filter_name:
        return "" if value is None else str(value)
    return FILTER_FUNCTIONS[filter_name](value, arg, values)


def _cents(value, _arg, values) -> str:
    amount = Decimal(str(value or 0))
    return str(int(amount.scaleb(exponent(values["currency"]))))


def _decimals(value, arg, _values) -> str:
    return f"{Decimal(str(value or 0)).quantize(Decimal(1).scaleb(-int(arg or 2))):f}"


def _date(value, arg, _values) -> str:
    moment = datetime.fromtimestamp(int(value or 0), UTC)
    return moment.strftime(arg or "%Y-%m-%dT%H:%M:%SZ")


def _number(value, _arg, _values) -> str:
    return str(Decimal(str(value or 0)))


FILTER_FUNCTIONS = {
    "cents": _cents, "decimals": _decimals, "date": _date, "number": _number,
    "upper": lambda v, _a, _vs: str(v).upper(), "lower": lambda v, _a, _vs: str(v).lower(),
    "sha256": lambda v, _a, _vs: hashlib.sha256(str(v).encode()).hexdigest(),
}


def values_for(event, delivery, network) -> dict:
    """The macro values of one delivery: its event's fields, on the network's amount basis."""
    amount, currency = amount_for(event, network)
    coupons = list(event.coupons or [])
    occurred = event.occurred_at or event.received_at
    return {
        "click_id": event.click_id, "currency": currency, "txn_id": event.txn_id,
        "amount": to_string(amount, currency) if currency else "",
        "order_id": event.order_id, "event": event.kind, "refund_id": event.refund_id,
        "coupon": coupons[0] if coupons else "", "coupons": ",".join(coupons),
        "email_sha256": event.email_sha256, "customer_id": event.customer_id,
        "source": event.source, "platform": event.platform, "is_test": int(event.is_test),
        "timestamp": int(occurred.replace(tzinfo=UTC).timestamp()),
        MESSAGE_ID: message_id(delivery.idempotency_key if delivery else f"test:{event.txn_id}"),
    }


def amount_for(event, network) -> tuple[Decimal, str]:
    """The amount on the network's basis and currency; refunds negative where the network says."""
    money, currency, fallback = event.money or {}, event.currency, event.amount
    if network.amount_currency == "presentment" and isinstance(money.get("presentment"), dict):
        money = money["presentment"]
        currency, fallback = money.get("currency") or currency, _on_basis(money, "net")
    amount = _on_basis(money, network.amount) if network.amount else None
    amount = (fallback if amount is None else amount) or Decimal(0)
    negative = event.kind in REFUND_KINDS and network.refund.mode == "negative_amount"
    return (-amount if negative else amount), currency


def _on_basis(money: dict, basis: str) -> Decimal | None:
    """total, net, subtotal, or subtotal after discounts; None where the event lacks it."""
    if basis == "subtotal_after_discounts":
        if money.get("subtotal") is None:
            return None
        return Decimal(money["subtotal"]) - Decimal(money.get("discounts") or 0)
    value = money.get(basis)
    return None if value is None else Decimal(value)


def message_id(key: str) -> str:
    """A stable id per delivery (the same on every retry), as Standard Webhooks asks."""
    return "msg_" + hashlib.sha256(key.encode()).hexdigest()[:32]


def render(network, values: dict, kind: str = "sale", test: bool = False, now=None) -> Request:
    """The full request for one conversion: method, URL, headers (auth, signature) and body."""
    spec = network.spec_for(kind, test)
    trusted = {k: str(v) for k, v in spec.vars.items()}
    scope = {**values, **trusted}
    url = render_url(spec.url, values, trusted)
    headers = {k: render_text(v, scope) for k, v in spec.headers.items()}
    headers.update(auth_headers(network.auth, scope))
    body, content_type = render_body(spec, scope)
    if content_type:
        headers.setdefault("Content-Type", content_type)
    if network.signing and body is not None:
        headers.update(sign(network.signing, scope, body, now))
    return Request(spec.method, url, headers, body)


def render_body(spec, scope: dict) -> tuple[bytes | None, str]:
    """The body and its content type, each value encoded for JSON or form."""
    if spec.method != "POST" or spec.body is None:
        return None, ""
    form = spec.body_format == "form"
    if isinstance(spec.body, dict) and form:
        return render_form(spec.body, scope), FORM
    if isinstance(spec.body, dict):
        return dumps_json(spec.body, scope), JSON
    encode = _form_slot if form else _json_string_slot
    return _substitute(spec.body, scope, encode).encode(), FORM if form else JSON


def _form_slot(value) -> str:
    return quote_plus(str(value))


def _json_string_slot(value) -> str:
    """Inside a JSON string literal: quotes and backslashes escaped, nothing can close it."""
    return json.dumps(str(value))[1:-1]


def auth_headers(auth, scope: dict) -> dict:
    """Authorization (Basic or Bearer) or an API key header."""
    if auth is None:
        return {}
    if auth.type == "basic":
        pair = f"{render_text(auth.username, scope)}:{render_text(auth.password, scope)}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
    if auth.type == "bearer":
        return {"Authorization": "Bearer " + render_text(auth.token, scope)}
    return {render_text(auth.name, scope): render_text(auth.value, scope)}


def sign(signing, scope: dict, body: bytes, now=None) -> dict:
    """Standard Webhooks headers: webhook-id, webhook-timestamp, webhook-signature."""
    moment = now or datetime.now(UTC)
    msg_id = scope[MESSAGE_ID]
    signature = Webhook(render_text(signing.secret, scope)).sign(msg_id, moment, body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(moment.timestamp())),
            "webhook-signature": signature}
