"""Personal fields out of stored payloads: names, emails, phones, addresses, IPs."""

from decimal import Decimal

from connectors.base import strict_json

PERSONAL_KEYS = {
    "email", "contact_email", "customer_email", "receipt_email", "phone", "name", "first_name",
    "last_name", "company", "address", "address1", "address2", "address_1", "address_2", "city",
    "zip", "postcode", "postal_code", "line1", "line2", "browser_ip", "customer_ip_address",
    "client_ip", "ip", "customer_name", "customer_phone", "billing_address", "shipping_address",
    "billing_details", "shipping_details", "latitude", "longitude", "customer_note", "note",
    "user_agent", "customer_user_agent", "billing", "shipping",
}
REDACTED = "[redacted]"
MAX_DEPTH = 64
SCALARS = (str, int, float, type(None))  # bool is an int


def payload(data, depth: int = 0):
    """A JSON-safe copy with personal fields replaced; Decimals become strings."""
    if depth > MAX_DEPTH:
        return REDACTED
    if isinstance(data, dict):
        return {k: REDACTED if _personal(k, v) else _value(v, depth + 1) for k, v in data.items()}
    if isinstance(data, list):
        return [_value(v, depth + 1) for v in data]
    return _value(data, depth)


def _value(value, depth: int):
    # Scalars inline: most of a payload's ~200 values are strings and numbers.
    if isinstance(value, SCALARS):
        return value
    if isinstance(value, Decimal):
        return str(value)
    return payload(value, depth)


def _personal(key, value) -> bool:
    return str(key).lower() in PERSONAL_KEYS and value not in (None, "", [], {})


def payload_excerpt(raw_body: bytes) -> dict:
    """What we keep of a body we could not use: its redacted JSON, or only its size."""
    try:
        data = strict_json(raw_body)
    except (ValueError, RecursionError):
        return {"unparsed_bytes": len(raw_body)}
    return payload(data) if isinstance(data, (dict, list)) else {"unparsed_bytes": len(raw_body)}
