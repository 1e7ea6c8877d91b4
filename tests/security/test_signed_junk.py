"""Signed but broken bodies, for every platform: 200, stored as invalid with the reason, nothing
sent, never a 500 and never a partial write. SQLite and PostgreSQL."""

import copy
import json
import uuid

import pytest
from sqlalchemy import select

from bridge.storage.models import Event
from tests.conftest import FIXTURES
from tests.security.conftest import PLATFORMS, row_counts, signed_headers

GOOD = {"stripe": "stripe/checkout.session.completed__paid.json",
        "shopify": "shopify/orders_paid__basic.json",
        "woocommerce": "woocommerce/order.updated__processing.json"}
WRONG_VALUES = (None, "", "x" * 300, 10**40, -10**12, -1, 1.5, True, [], {}, [[[]]], "NaN",
                "\u0000\ud7ff", {"id": "nested"})
BROKEN_BODIES = {
    "not JSON": b"{this is not json",
    "not UTF-8": b'{"id": "\xff\xfe\xfa"}',
    "deeply nested": b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    "nested past the bound": b'{"a": ' + b"[" * 100 + b"]" * 100 + b"}",
    "huge number": b'{"id": 1' + b"0" * 5000 + b"}",
    "huge exponent": b'{"id": "evt_1", "amount": 1e999999}',
    "a JSON array": b"[1, 2, 3]",
    "a JSON string": b'"just a string"',
    "NaN": b'{"id": NaN}',
    "empty": b"",
    "BOM": b"\xef\xbb\xbf{}",
}


def good_payload(platform: str) -> dict:
    return json.loads((FIXTURES / GOOD[platform]).read_text())


def post_signed(client, platform: str, raw: bytes):
    extra = {"X-Shopify-Webhook-Id": uuid.uuid4().hex} if platform == "shopify" else {}
    return client.post(f"/webhooks/{platform}", data=raw,
                       headers=signed_headers(platform, raw, **extra))


def leaf_paths(data, path=()):
    """Every key path in a JSON document (containers and scalars alike)."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield path + (key,)
            yield from leaf_paths(value, path + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data[:3]):
            yield path + (index,)
            yield from leaf_paths(value, path + (index,))


def with_value(data, path, value):
    changed = copy.deepcopy(data)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    if isinstance(changed.get("id"), str) and path != ("id",):
        changed["id"] = f"evt_{uuid.uuid4().hex}"  # each mutation its own event
    return changed


def new_rows(rt, since_id: int) -> list[Event]:
    with rt.session() as session:
        return session.scalars(select(Event).where(Event.id > since_id)).all()


def last_id(rt) -> int:
    with rt.session() as session:
        return session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1)) or 0


def assert_whole_answer(rt, response, before_id: int, deliveries_before: int, what: str):
    """A 200 (the body is kept for the inbox pass); an unusable body adds one row, invalid or
    ignored with its reason, and no delivery."""
    assert response.status_code == 200, (what, response.status_code, response.get_data()[:300])
    assert response.json["status"] in ("accepted", "duplicate"), what
    rows = new_rows(rt, before_id)
    if unusable := [r for r in rows if r.status in ("invalid", "ignored")]:
        assert len(rows) == 1 and unusable[0].reason, what
        assert row_counts(rt)[1] == deliveries_before, what


@pytest.mark.parametrize("platform", PLATFORMS)
def test_wrong_types_in_every_field_are_invalid_never_500(hostile, hostile_client, platform):
    payload = good_payload(platform)
    for path in list(leaf_paths(payload)):
        for value in WRONG_VALUES:
            raw = json.dumps(with_value(payload, path, value)).encode()
            before, deliveries = last_id(hostile), row_counts(hostile)[1]
            response = post_signed(hostile_client, platform, raw)
            assert_whole_answer(hostile, response, before, deliveries, f"{path}={value!r}")


# Stripe signs text, so a body that is not UTF-8 cannot be signed for it: see
# test_stripe_refuses_a_body_that_is_not_utf8.
@pytest.mark.parametrize("platform, case", [
    (p, c) for p in PLATFORMS for c in sorted(BROKEN_BODIES) if (p, c) != ("stripe", "not UTF-8")])
def test_broken_bodies_are_stored_invalid_with_the_reason(hostile, hostile_client, platform,
                                                          case):
    response = post_signed(hostile_client, platform, BROKEN_BODIES[case])
    assert (response.status_code, response.json["status"]) == (200, "accepted"), case
    rows = new_rows(hostile, 0)
    assert [(r.status, bool(r.reason)) for r in rows] == [("invalid", True)]
    assert row_counts(hostile)[1] == 0


def test_stripe_refuses_a_body_that_is_not_utf8(hostile, hostile_client):
    """Stripe's signature is over UTF-8 text (its library verifies a str): bytes that are not
    UTF-8 cannot carry one, so they are refused like any unsigned body."""
    response = post_signed(hostile_client, "stripe", BROKEN_BODIES["not UTF-8"])
    assert response.status_code == 401
    assert row_counts(hostile) == (0, 0)
