"""`bridge networks test|pause|resume <name>`."""

from datetime import datetime
from decimal import Decimal

import click

from bridge import audit
from bridge.storage.models import Event, NetworkState
from workers import delivery, limits, templating

TEST_CLICK_ID = "bridge-test-click"


def register(main, runtime_factory) -> None:
    @main.group()
    def networks():
        """Affiliate networks: test, pause, resume."""

    @networks.command()
    @click.argument("name")
    @click.option("--amount", type=Decimal, default=Decimal("1.00"), show_default=True)
    @click.option("--currency", default="EUR", show_default=True)
    @click.option("--yes", is_flag=True, help="Send even though the network has no test mode.")
    def test(name, amount, currency, yes):
        """Fire a harmless test conversion at a network (its test mode) and show the answer."""
        rt = runtime_factory()
        network = _network(rt, name)
        if network.test_mode is None and not yes:
            raise click.ClickException(f"{name} has no test mode: the conversion would be real. "
                                       "Pass --yes to send it anyway.")
        outcome, attempt = fire_test(rt, network, amount, currency.upper())
        click.echo(f"{attempt.method} {attempt.url}")
        click.echo(f"→ {attempt.response_status or attempt.error} {outcome.status}: "
                   f"{outcome.reason} {attempt.response_excerpt[:200]!r}")
        raise SystemExit(0 if outcome.status in ("delivered", "duplicate") else 1)

    @networks.command()
    @click.argument("name")
    def pause(name):
        """Stop sending to a network (deliveries wait)."""
        _set_paused(runtime_factory(), name, True, "paused by hand")

    @networks.command()
    @click.argument("name")
    def resume(name):
        """Send to a paused network again."""
        _set_paused(runtime_factory(), name, False, "")


def fire_test(rt, network, amount: Decimal = Decimal("1.00"), currency: str = "EUR"):
    """Send one test conversion through the network's test mode: (outcome, attempt)."""
    event = test_event(amount, currency)
    request = templating.render(network, templating.values_for(event, None, network), "sale",
                                test=True)
    return delivery.send(rt, request, network)


def test_event(amount: Decimal, currency: str) -> Event:
    """A conversion that is plainly a test: test click id, test flag, a small amount."""
    stamp = datetime.now().strftime("%Y%m%d%H%M%S")
    return Event(source="bridge-test", platform="test", kind="sale", txn_id=f"test-{stamp}",
                 order_id=f"test-{stamp}", refund_id="", currency=currency, amount=amount,
                 money={"total": str(amount), "net": str(amount)}, coupons=[],
                 email_sha256="", customer_id="", click_id=TEST_CLICK_ID, is_test=True,
                 occurred_at=datetime.now())


def _network(rt, name: str):
    network = rt.config.network(name)
    if network is None:
        raise click.ClickException(f"no network named {name!r}")
    return network


def _set_paused(rt, name: str, paused: bool, reason: str) -> None:
    _network(rt, name)
    with rt.session() as session:
        set_paused(session, name, paused, reason, audit.cli_actor())
    click.echo(f"network {name} {'paused' if paused else 'resumed'}")


def set_paused(session, name: str, paused: bool, reason: str, actor: str) -> None:
    """Pause or resume a network by hand (audited); its deliveries wait while paused."""
    state = session.get(NetworkState, name) or NetworkState(name=name)
    state.paused, state.reason, state.consecutive_failures = paused, reason, 0
    state.probe_at = None
    session.add(state)
    if not paused:
        limits.release_held(session, name)
    audit.record(session, actor, "pause" if paused else "resume", f"network {name}", reason)
