"""Postback requests from templates: `{name|filter:arg}`, each value encoded for its slot."""

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from connectors.money import exponent, to_string

MACRO = re.compile(r"\{([a-z_][a-z0-9_]*)(?:\|([a-z0-9_]+)(?::([^{}]*))?)?\}")
MACROS = {
    "click_id", "amount", "currency", "txn_id", "order_id", "event", "coupon", "coupons",
    "email_sha256", "customer_id", "source", "platform", "timestamp", "is_test", "refund_id",
}
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


def render_json(template, values: dict):
    """A YAML mapping body: each string rendered; `|number` gives a JSON number."""
    if isinstance(template, dict):
        return {k: render_json(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [render_json(v, values) for v in template]
    if isinstance(template, str):
        whole = MACRO.fullmatch(template)
        if whole and whole.group(2) == "number":
            return json.loads(apply(values, *whole.groups()))
        return _substitute(template, values, str)
    return template


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
    basis = network.amount
    amount = Decimal(event.money[basis]) if basis and basis in (event.money or {}) else event.amount
    coupons = list(event.coupons or [])
    occurred = event.occurred_at or event.received_at
    return {
        "click_id": event.click_id, "currency": event.currency, "txn_id": event.txn_id,
        "amount": to_string(amount or Decimal(0), event.currency) if event.currency else "",
        "order_id": event.order_id, "event": event.kind, "refund_id": event.refund_id,
        "coupon": coupons[0] if coupons else "", "coupons": ",".join(coupons),
        "email_sha256": event.email_sha256, "customer_id": event.customer_id,
        "source": event.source, "platform": event.platform, "is_test": int(event.is_test),
        "timestamp": int(occurred.replace(tzinfo=UTC).timestamp()),
    }


def render(network, values: dict) -> Request:
    """The full request for a network: URL, headers and body."""
    trusted = {k: str(v) for k, v in network.vars.items()}
    url = render_url(network.url, values, trusted)
    headers = {k: render_text(_substitute_vars(v, trusted), values)
               for k, v in network.headers.items()}
    body = None
    if network.method == "POST" and isinstance(network.body, dict):
        if network.body_format == "form":
            body = render_form(network.body, values)
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        else:
            body = json.dumps(render_json(network.body, values)).encode()
            headers.setdefault("Content-Type", "application/json")
    elif network.method == "POST" and isinstance(network.body, str):
        body = render_text(network.body, values).encode()
    return Request(network.method, url, headers, body)
