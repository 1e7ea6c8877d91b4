"""`bridge status [--json]`: is everything flowing? Exit 1 when something needs a human."""

import json
import sys

import click

from bridge import status as status_module


def register(main, runtime_factory) -> None:
    @main.command()
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    def status(as_json):
        """Queue, workers, per network and per source figures; exit 1 if attention is needed."""
        figures = status_module.collect(runtime_factory())
        if as_json:
            click.echo(json.dumps(figures.as_json(), indent=2))
        else:
            print_status(figures)
        sys.exit(1 if figures.attention else 0)


def print_status(s: status_module.Status) -> None:
    """The human-readable report."""
    _print_queue(s.queue)
    click.echo(f"Inbox: {s.inbox_waiting} webhooks waiting to be processed"
               + (f" (oldest {_when(s.inbox_oldest)})" if s.inbox_oldest else ""))
    click.echo("\nNetworks (last 24 h):")
    click.echo(f"  {'NAME':<16} {'DELIVERED':>9} {'RETRYING':>8} {'DEAD':>5} {'SUCCESS':>8}  "
               "OLDEST PENDING       STATE")
    for n in s.networks:
        rate = f"{n.success_rate:.1%}" if n.success_rate is not None else "-"
        state = _state(n)
        click.echo(f"  {n.name:<16} {n.delivered:>9} {n.retrying:>8} {n.dead:>5} {rate:>8}  "
                   f"{_when(n.oldest_pending):<20} {state}")
    click.echo("\nSources:")
    for src in s.sources:
        failures = "?" if src.signature_failures is None else src.signature_failures
        click.echo(f"  {src.name:<16} {src.platform:<12} last webhook {_when(src.last_received)}"
                   f"  ({src.received_24h} in 24 h, {failures} signature failures in 7 days)")
    accuracy = f"{s.accuracy:.1%}" if s.accuracy is not None else "-"
    click.echo(f"\nAccuracy (24 h): {s.delivered_orders} of {s.attributed} attributed orders "
               f"delivered ({accuracy})")
    _print_attention(s.attention)


def _state(n: status_module.NetworkFigures) -> str:
    """active, paused (by hand or by an answer), or the breaker's open circuit and next probe."""
    if n.paused and n.probe_at:
        return f"circuit open, next probe {_when(n.probe_at)}: {n.paused_reason}"
    if n.paused:
        return f"paused: {n.paused_reason}"
    failing = f" ({n.consecutive_failures} failures in a row)" if n.consecutive_failures else ""
    return "active" + failing


def _print_queue(q: status_module.QueueFigures) -> None:
    if not q.available:
        click.echo(f"Queue: unavailable ({q.error})")
        return
    click.echo(f"Queue: {q.depth} waiting, {q.scheduled} scheduled, {q.started} running, "
               f"{q.failed} failed jobs; {len(q.workers)} worker(s)")
    for w in q.workers:
        click.echo(f"  worker {w['name']} {w['state']} (heartbeat {_when(w['last_heartbeat'])})")


def _print_attention(problems: list[str]) -> None:
    if not problems:
        click.echo("\nAll good.")
        return
    click.echo("\nNeeds attention:")
    for problem in problems:
        click.echo(f"  ! {problem}")


def _when(moment) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}" if moment else "never"
