"""Which click a conversion belongs to: carried in the order, inherited, stored, or not found."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from bridge import clickstore
from bridge.storage.models import Click, Event, utcnow

SALE_KINDS = ("sale", "lead", "renewal")


@dataclass(frozen=True)
class Attribution:
    click_id: str = ""
    click_param: str = ""
    network: str = ""
    how: str = "none"  # order | subscription | sale | stored | none
    reason: str = ""
    clicked_at: datetime | None = None  # when the click store knows: each network's window_days


def resolve(session, config, source, conversion, sale: Event | None,
            clicks: dict[str, Click]) -> Attribution:
    """A click id carried in the order wins; renewals and refunds inherit their sale's click;
    else the click store (last click, by visitor, cart/checkout, customer, email). `clicks`:
    the stored click of each click id the caller's orders carry (clickstore.newest_with_ids)."""
    if conversion.kind in ("refund", "reversal"):
        return _inherit(sale, "sale", f"no stored sale with txn id {conversion.txn_id}")
    if conversion.click_id:
        click = clicks.get(conversion.click_id)
        return Attribution(conversion.click_id, conversion.click_param,
                           click.network if click else "", "order",
                           clicked_at=click.created_at if click else None)
    if conversion.kind == "renewal":
        first = first_subscription_conversion(session, source.name, conversion.subscription_id)
        return _inherit(first, "subscription", "subscription's first conversion had no click")
    return stored_click(session, conversion)


def stored_click(session, conversion) -> Attribution:
    """The most recent click unexpired when the order was placed, found by the order's keys."""
    keys = {key: getattr(conversion, key, "") for key in clickstore.LOOKUP_KEYS}
    click, reason = clickstore.find(session, keys, conversion.occurred_at or utcnow())
    if click is None:
        return Attribution(reason=reason)
    return Attribution(click.click_id, click.click_param, click.network, "stored", reason,
                       click.created_at)


def _inherit(row: Event | None, how: str, reason: str) -> Attribution:
    if row is None or not row.click_id:
        return Attribution(reason=reason)
    return Attribution(row.click_id, row.click_param, row.click_network, how,
                       clicked_at=row.clicked_at)


def first_subscription_conversion(session, source: str, subscription_id: str) -> Event | None:
    if not subscription_id:
        return None
    return session.scalars(
        select(Event).where(Event.source == source, Event.subscription_id == subscription_id,
                            Event.status == "accepted", Event.kind.in_(SALE_KINDS))
        .order_by(Event.id).limit(1)).first()
