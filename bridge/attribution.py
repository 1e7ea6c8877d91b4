"""Which click a conversion belongs to: carried in the order, inherited, or not found."""

from dataclasses import dataclass

from sqlalchemy import select

from bridge.storage.models import Event

SALE_KINDS = ("sale", "lead", "renewal")


@dataclass(frozen=True)
class Attribution:
    click_id: str = ""
    click_param: str = ""
    network: str = ""
    how: str = "none"  # order | subscription | sale | none
    reason: str = ""


def resolve(session, config, source, conversion, sale: Event | None) -> Attribution:
    """A click id carried in the order wins; renewals and refunds inherit their sale's click."""
    if conversion.kind in ("refund", "reversal"):
        return _inherit(sale, "sale", f"no stored sale with txn id {conversion.txn_id}")
    if conversion.click_id:
        return Attribution(conversion.click_id, conversion.click_param, "", "order")
    if conversion.kind == "renewal":
        first = first_subscription_conversion(session, source.name, conversion.subscription_id)
        return _inherit(first, "subscription", "subscription's first conversion had no click")
    return Attribution(reason="no click id in the order")


def _inherit(row: Event | None, how: str, reason: str) -> Attribution:
    if row is None or not row.click_id:
        return Attribution(reason=reason)
    return Attribution(row.click_id, row.click_param, row.click_network, how)


def first_subscription_conversion(session, source: str, subscription_id: str) -> Event | None:
    if not subscription_id:
        return None
    return session.scalars(
        select(Event).where(Event.source == source, Event.subscription_id == subscription_id,
                            Event.status == "accepted", Event.kind.in_(SALE_KINDS))
        .order_by(Event.id).limit(1)).first()
