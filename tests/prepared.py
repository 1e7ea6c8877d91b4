"""Rows written straight into a prepared database, for tests that read figures back."""

import itertools
from datetime import timedelta
from decimal import Decimal

from bridge.storage.models import Attempt, Delivery, Event, utcnow

_ids = itertools.count(1)


def order(session, deliveries: dict[str, str], click_id="clk", source="stripe", ago_h=1.0,
          reason="", **fields) -> Event:
    """An accepted sale with one delivery per {network: status}; returns the event."""
    n = next(_ids)
    at = utcnow() - timedelta(hours=ago_h)
    event = Event(source=source, platform="stripe", event_key=f"evt_{n}", topic="checkout",
                  status="accepted", kind="sale", conversion_key=f"sale:pi_{n}:",
                  order_id=f"order_{n}", txn_id=f"pi_{n}", amount=Decimal("20.00"),
                  currency="eur", click_id=click_id, attribution="order" if click_id else "none",
                  attribution_reason="" if click_id else "no click id in the order",
                  received_at=at, **fields)
    session.add(event)
    session.flush()
    for network, status in deliveries.items():
        session.add(Delivery(event_id=event.id, network=network, kind="sale", status=status,
                             reason=reason, idempotency_key=f"{network}:{n}", created_at=at,
                             next_attempt_at=at, attempts=1 if status != "pending" else 0,
                             delivered_at=at if status == "delivered" else None))
    session.flush()
    return event


def attempt(session, delivery_id: int, url: str, outcome="retrying", status=500) -> None:
    session.add(Attempt(delivery_id=delivery_id, number=1, url=url, method="GET",
                        response_status=status, response_excerpt="boom", outcome=outcome,
                        latency_ms=12.5))
