"""The one shape every platform's webhook becomes, and helpers the connectors share."""

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

from connectors.errors import InvalidPayloadError, SignatureError

KINDS = ("sale", "lead", "renewal", "refund", "reversal")
MAX_JSON_DEPTH = 64
# Longest text each field may carry (the columns' sizes): a longer value makes the body invalid.
MAX_LENGTHS = {"event_id": 128, "topic": 100, "refund_id": 120, "click_param": 64,
               "visitor_id": 64, "email_sha256": 64, "currency": 3}
MAX_ID = 255


@dataclass(frozen=True)
class Money:
    """An order's breakdown in major units; `net` is after discounts, without tax and shipping."""

    total: Decimal
    net: Decimal
    subtotal: Decimal | None = None
    discounts: Decimal | None = None
    tax: Decimal | None = None
    shipping: Decimal | None = None
    prices_include_tax: bool = False

    def as_strings(self) -> dict:
        """JSON-safe form for storage."""
        return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class ConversionEvent:
    """One conversion (or reversal of one) from a store, before attribution."""

    kind: str
    txn_id: str
    order_id: str
    currency: str
    money: Money | None = None  # sales, leads, renewals
    refund_id: str = ""
    refund_amount: Decimal | None = None  # gross amount refunded by this refund or reversal
    refund_net: Decimal | None = None  # the same on the net basis, where the platform says
    refunded_total: Decimal | None = None  # cumulative, when a platform gives no per-refund amount
    click_id: str = ""
    click_param: str = ""
    coupons: tuple[str, ...] = ()
    email_sha256: str = ""
    customer_id: str = ""
    cart_token: str = ""
    checkout_token: str = ""
    visitor_id: str = ""  # the storefront snippet's first-party id, when the order carries it
    subscription_id: str = ""
    is_test: bool = False
    occurred_at: datetime | None = None

    def __post_init__(self):
        check_lengths(self)


@dataclass(frozen=True)
class Webhook:
    """What a connector makes of one signed delivery."""

    event_id: str
    topic: str
    conversions: tuple[ConversionEvent, ...]
    payload: dict = field(default_factory=dict)
    # The payload is the resource's current state (WooCommerce), not one event: conversions
    # already stored are old news, not duplicates worth a row.
    snapshot: bool = False

    def __post_init__(self):
        check_lengths(self)


def check_lengths(record) -> None:
    """InvalidPayloadError when a text field is longer than its column (no partial write)."""
    for name, value in record.__dict__.items():
        if isinstance(value, str) and len(value) > MAX_LENGTHS.get(name, MAX_ID):
            raise InvalidPayloadError(f"field {name!r} is longer than "
                                      f"{MAX_LENGTHS.get(name, MAX_ID)} characters")


def load_json(raw_body: bytes) -> dict:
    """Parse a signed body strictly: UTF-8 JSON object, numbers exact, bounded nesting."""
    try:
        text = raw_body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidPayloadError("body is not UTF-8") from None
    try:
        data = strict_json(text)
    except (ValueError, RecursionError) as exc:  # the parser's own bound: about 1,000 deep
        raise InvalidPayloadError(f"body is not JSON: {str(exc)[:80]}") from None
    if not isinstance(data, dict):
        raise InvalidPayloadError("JSON body is not an object")
    if _nested_deeper(data, MAX_JSON_DEPTH):
        raise InvalidPayloadError("JSON nested too deeply")
    return data


def _refuse_constant(name):
    raise ValueError(f"{name} is not a JSON number")


MAX_NUMBER_DIGITS = 40  # ids reach 2^63 (19 digits); nothing a store sends needs more


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise ValueError(f"number {text[:20]}… is absurdly large")
    return int(text)


def _bounded_decimal(text: str) -> Decimal:
    number = Decimal(text)
    if abs(number.adjusted()) > MAX_NUMBER_DIGITS:
        raise ValueError(f"number {text[:20]} is out of range")
    return number


def strict_json(text):
    """json.loads with the same bounds as load_json, for any JSON the bridge keeps.

    NUL characters are refused: PostgreSQL text cannot hold them, and no store sends them."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if "\x00" in text or "\\u0000" in text:
        raise ValueError("NUL character in the body")
    return json.loads(text, parse_float=_bounded_decimal, parse_int=_bounded_int,
                      parse_constant=_refuse_constant)


JSON_CONTAINERS = frozenset((dict, list))


def _nested_deeper(data, limit: int) -> bool:
    """Whether parsed JSON nests containers more than `limit` deep (level by level, no
    recursion; a fifth of the cost of scanning the text). The parser makes exact dicts and
    lists, so a class test does: a third cheaper than isinstance."""
    level = [data]
    for _ in range(limit):
        level = [child for node in level
                 for child in (node.values() if node.__class__ is dict else node)
                 if child.__class__ in JSON_CONTAINERS]
        if not level:
            return False
    return True


def require(mapping, key: str, kind=None):
    """A field that must be there (and of a type), or InvalidPayloadError naming it."""
    if not isinstance(mapping, dict) or mapping.get(key) in (None, ""):
        raise InvalidPayloadError(f"missing field {key!r}")
    value = mapping[key]
    if kind is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise InvalidPayloadError(f"field {key!r} has the wrong type")
    return value


def id_string(value) -> str:
    """An id as text; ints stay exact (Shopify ids exceed 2^53)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidPayloadError(f"id {str(value)[:32]!r} is not a string or integer")
    return str(value)


def email_sha256(email) -> str:
    """SHA-256 of the trimmed, lower-cased email; the plain address is never kept."""
    if not isinstance(email, str) or "@" not in email:
        return ""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def find_click(pairs, click_params) -> tuple[str, str]:
    """First (value, name) whose name is a click parameter, in click_params' order of priority."""
    found = {str(name).lstrip("_"): value for name, value in pairs if isinstance(value, str)}
    for name in click_params:
        value = found.get(name, "").strip()
        if value:
            return value, name
    return "", ""


def query_pairs(url) -> list[tuple[str, str]]:
    """The query parameters of a URL or path, tolerating junk."""
    if not isinstance(url, str) or "?" not in url:
        return []
    return parse_qsl(urlsplit(url).query, keep_blank_values=False)


def from_unix(seconds) -> datetime | None:
    """Unix seconds to a naive UTC datetime."""
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)
    except (OverflowError, OSError, ValueError):
        raise InvalidPayloadError(f"time {str(seconds)[:24]} is out of range") from None


def verify_base64_hmac(raw_body: bytes, headers, name: str, secrets) -> None:
    """Shopify's and WooCommerce's scheme: header `name` is base64(HMAC-SHA256(secret, body)),
    for any of the secrets; compared as decoded bytes, in constant time."""
    value = header(headers, name)
    if not value:
        raise SignatureError(f"missing {name} header")
    try:
        given = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"{name} is not base64") from None
    digests = (hmac.new(s.encode(), raw_body, hashlib.sha256).digest() for s in secrets)
    if not any(hmac.compare_digest(given, digest) for digest in digests):
        raise SignatureError(f"{name} does not match the body")


def body_key(raw_body: bytes, headers, topic: str) -> str:
    """A delivery's inbox key from its topic and body (one order's body can come under two
    topics): the `delivery_key` of platforms whose event id is inside the body, which the web
    tier does not parse."""
    return f"{topic}:sha256:{hashlib.sha256(raw_body).hexdigest()}"


def header(headers, name: str) -> str:
    """A header's value, case-insensitively (HTTP/2 lower-cases names)."""
    return (headers.get(name) or "").strip()
