"""Which networks hear a conversion (DESIGN: "Routing"), as delivery rows to create."""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from bridge.storage.models import PENDING, SKIPPED, Delivery, Event, utcnow

GENERIC_PARAMS = ("client_reference_id", "")


@dataclass(frozen=True)
class Route:
    network: str
    status: str = PENDING
    reason: str = ""
    delay_minutes: int = 0
    depends_on_id: int | None = None


def routes(session, config, event: Event) -> list[Route]:
    """Sales go to the click's owner (or `receives: all`); refunds follow their sale."""
    if event.kind in ("refund", "reversal"):
        return _follow_sale(session, config, event)
    if not event.click_id:
        return []
    owners = [n for n in config.networks if owns(config, n, event)]
    return [_filtered(n, event) for n in owners]


def owns(config, network, event: Event) -> bool:
    if network.receives == "all" or event.click_network == network.name:
        return True
    if event.click_param and event.click_param in network.click_params:
        return True
    generic = event.click_param in (*config.attribution.click_params, *GENERIC_PARAMS)
    return generic and len(config.networks) == 1


def _filtered(network, event: Event) -> Route:
    reason = filter_reason(network, event)
    if reason:
        return Route(network.name, SKIPPED, reason)
    return Route(network.name, delay_minutes=network.delay_minutes)


def filter_reason(network, event: Event) -> str:
    """Why a network that would hear this conversion does not, or ''."""
    if event.kind not in network.events:
        return f"filtered: network does not take {event.kind} events"
    if network.sources and event.source not in network.sources:
        return "filtered: source"
    if network.currencies and event.currency not in network.currencies:
        return f"filtered: currency {event.currency}"
    if network.min_amount is not None and (event.amount or 0) < network.min_amount:
        return f"filtered: amount under {network.min_amount}"
    if event.is_test and not (network.send_test or network.test_mode):
        return "test conversion: network does not take test conversions"
    if outside_window(network, event):
        return f"outside window: click older than {network.window_days} days"
    return ""


def outside_window(network, event: Event) -> bool:
    """The network's click window; checked only when the click time is known."""
    if not network.window_days or event.clicked_at is None:
        return False
    converted_at = event.occurred_at or utcnow()
    return converted_at - event.clicked_at > timedelta(days=network.window_days)


def _follow_sale(session, config, event: Event) -> list[Route]:
    sale_deliveries = session.scalars(
        select(Delivery).join(Event).where(
            Event.source == event.source, Event.txn_id == event.txn_id,
            Event.kind.in_(("sale", "lead", "renewal")), Delivery.status != SKIPPED)).all()
    return [_refund_route(config.network(sale.network), sale, event) for sale in sale_deliveries]


def _refund_route(network, sale: Delivery, event: Event) -> Route:
    """A refund follows its sale's delivery, unless the network cannot hear it."""
    reason = refund_skip_reason(network, sale.event, event)
    if reason:
        return Route(sale.network, SKIPPED, reason)
    return Route(sale.network, depends_on_id=sale.id)


def refund_skip_reason(network, sale: Event, refund: Event) -> str:
    """Why a network that heard the sale does not hear this refund, or ''."""
    if network is None:
        return "network no longer configured"
    if refund.kind not in network.events:
        return f"network does not take {refund.kind}s"
    if network.refund.mode == "unsupported":
        return "refund not supported by network"
    if not network.refund.partial and is_partial(sale, refund):
        return "partial refund not supported by network"
    return ""


def is_partial(sale: Event, refund: Event) -> bool:
    """A refund of less than the whole sale (a reversal takes all that is left)."""
    if refund.kind == "reversal":
        return False
    sale_total = Decimal((sale.money or {}).get("total") or 0)
    return Decimal((refund.money or {}).get("total") or 0) < sale_total


def new_delivery(event: Event, route: Route) -> Delivery:
    key = "|".join((route.network, event.source, event.txn_id, event.kind, event.refund_id))
    return Delivery(
        event=event, network=route.network, idempotency_key=key, kind=event.kind,
        status=route.status, reason=route.reason, depends_on_id=route.depends_on_id,
        next_attempt_at=utcnow() + timedelta(minutes=route.delay_minutes))
