"""`bridge deliveries list|show|retry|replay` and `bridge networks pause|resume`."""

from datetime import datetime

import click
from sqlalchemy import select

from bridge import audit
from bridge.storage.models import DEAD, DELIVERED, PENDING, REJECTED, Delivery, NetworkState, utcnow

REPLAYABLE = (DEAD, REJECTED)


def register(main, runtime_factory) -> None:
    @main.group()
    def deliveries():
        """Postback deliveries: list, show, retry, replay."""

    @deliveries.command("list")
    @click.option("--status", default=None)
    @click.option("--network", default=None)
    @click.option("--limit", default=50, show_default=True)
    def list_(status, network, limit):
        """Newest deliveries first."""
        rt = runtime_factory()
        query = select(Delivery).order_by(Delivery.id.desc()).limit(limit)
        if status:
            query = query.where(Delivery.status == status)
        if network:
            query = query.where(Delivery.network == network)
        with rt.session() as session:
            rows = session.scalars(query).all()
            click.echo(f"{'ID':>6}  {'NETWORK':<14} {'KIND':<9} {'STATUS':<10} {'TRIES':>5}  "
                       f"{'TXN':<28} REASON")
            for d in rows:
                click.echo(f"{d.id:>6}  {d.network:<14} {d.kind:<9} {d.status:<10} "
                           f"{d.attempts:>5}  {d.event.txn_id[:28]:<28} {d.reason[:60]}")

    @deliveries.command()
    @click.argument("delivery_id", type=int)
    def show(delivery_id):
        """One delivery with every attempt (secrets masked)."""
        rt = runtime_factory()
        with rt.session() as session:
            d = session.get(Delivery, delivery_id)
            if d is None:
                raise click.ClickException(f"no delivery {delivery_id}")
            e = d.event
            click.echo(f"delivery {d.id} → {d.network}: {d.status} ({d.reason})")
            click.echo(f"  event {e.id} {e.kind} {e.amount} {e.currency} txn={e.txn_id} "
                       f"click={e.click_id or '-'} source={e.source}")
            for a in d.attempt_rows:
                click.echo(f"  #{a.number} {a.started_at:%Y-%m-%d %H:%M:%S} {a.method} {a.url}")
                click.echo(f"     → {a.response_status or a.error} {a.outcome} "
                           f"{a.latency_ms} ms {a.response_excerpt[:120]!r}")

    @deliveries.command()
    @click.argument("delivery_id", type=int)
    def retry(delivery_id):
        """Send a dead or rejected delivery again (a new round of attempts)."""
        rt = runtime_factory()
        with rt.session() as session:
            d = session.get(Delivery, delivery_id)
            if d is None:
                raise click.ClickException(f"no delivery {delivery_id}")
            if d.status not in REPLAYABLE:
                raise click.ClickException(f"delivery {delivery_id} is {d.status}, not dead "
                                           "or rejected")
            restart(d, "retry requested")
            audit.record(session, audit.cli_actor(), "retry", f"delivery {delivery_id}")
        click.echo(f"delivery {delivery_id} will be sent again")

    @deliveries.command()
    @click.option("--network", required=True)
    @click.option("--since", required=True, type=click.DateTime())
    @click.option("--include-delivered", is_flag=True)
    def replay(network, since: datetime, include_delivered):
        """Send again every dead or rejected delivery of a network since a time."""
        rt = runtime_factory()
        statuses = REPLAYABLE + ((DELIVERED,) if include_delivered else ())
        with rt.session() as session:
            rows = replayable(session, network, since, None, statuses)
            with click.progressbar(rows, label="replaying") as bar:
                for d in bar:
                    restart(d, "replay requested")
            audit.record(session, audit.cli_actor(), "replay", f"network {network}",
                         f"since {since:%Y-%m-%d %H:%M}: {len(rows)} deliveries")
        click.echo(f"{len(rows)} deliveries will be sent again")

    @main.group()
    def networks():
        """Affiliate networks: pause, resume."""

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


def replayable(session, network: str, since: datetime, until: datetime | None,
               statuses=REPLAYABLE) -> list[Delivery]:
    """A network's deliveries created in [since, until) whose status a replay re-sends."""
    query = select(Delivery).where(Delivery.network == network, Delivery.created_at >= since,
                                   Delivery.status.in_(statuses))
    if until is not None:
        query = query.where(Delivery.created_at < until)
    return list(session.scalars(query.order_by(Delivery.id)))


def restart(delivery: Delivery, reason: str) -> None:
    """A new round: due now, with the network's full attempt budget."""
    now = utcnow()
    delivery.status, delivery.reason, delivery.lease_until = PENDING, reason, None
    delivery.next_attempt_at = delivery.round_started_at = now
    delivery.round_base = delivery.attempts


def _set_paused(rt, name: str, paused: bool, reason: str) -> None:
    if rt.config.network(name) is None:
        raise click.ClickException(f"no network named {name!r}")
    with rt.session() as session:
        state = session.get(NetworkState, name) or NetworkState(name=name)
        state.paused, state.reason, state.consecutive_failures = paused, reason, 0
        session.add(state)
        audit.record(session, audit.cli_actor(), "pause" if paused else "resume",
                     f"network {name}", reason)
    click.echo(f"network {name} {'paused' if paused else 'resumed'}")
