"""`bridge connect [--check] <source>` and `bridge reconcile <source> --since <time>`."""

import re
from collections import Counter
from datetime import datetime, timedelta

import click

from bridge import ingest, queue
from bridge.storage.models import utcnow
from connectors import shopify_api, stripe_api, woocommerce_api
from connectors.errors import ConnectorError

APIS = {"stripe": stripe_api, "shopify": shopify_api, "woocommerce": woocommerce_api}
LISTINGS = {"stripe": stripe_api.events_since, "shopify": shopify_api.orders_since,
            "woocommerce": woocommerce_api.orders_since}
_AGO = re.compile(r"^(\d+)([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


class Since(click.ParamType):
    """An ISO date or time (UTC), or an age: 90m, 48h, 7d."""

    name = "time"

    def convert(self, value, param, ctx):
        if isinstance(value, datetime):
            return value
        ago = _AGO.match(value.strip())
        if ago:
            return utcnow() - timedelta(**{_UNITS[ago.group(2)]: int(ago.group(1))})
        try:
            return datetime.fromisoformat(value.strip()).replace(tzinfo=None)
        except ValueError:
            self.fail(f"{value!r} is neither an ISO date/time nor an age like 48h or 7d", param,
                      ctx)


def register(main, runtime_factory) -> None:
    @main.command()
    @click.argument("source_name", metavar="SOURCE")
    @click.option("--check", is_flag=True, help="Only list what is registered and what is missing.")
    def connect(source_name, check):
        """Register (or update) the store's webhooks pointing at this bridge."""
        rt = runtime_factory()
        source = _source(rt, source_name)
        url = f"{rt.config.server.public_url}/webhooks/{source.name}"
        lines = _call(rt, APIS[source.platform].connect, source, url, check)
        for line in lines:
            click.echo(line)
        if check and any(line.startswith("missing") for line in lines):
            raise SystemExit(1)

    @main.command()
    @click.argument("source_name", metavar="SOURCE")
    @click.option("--since", required=True, type=Since(), help="ISO time (UTC) or age: 48h, 7d.")
    def reconcile(source_name, since):
        """Feed the orders the bridge missed since a time through the usual path (idempotent)."""
        rt = runtime_factory()
        source = _source(rt, source_name)
        counts = _call(rt, reconcile_source, rt, source, since)
        click.echo(f"found {counts['found']} {_noun(source)} since {since:%Y-%m-%d %H:%M} UTC; "
                   f"{counts['new']} new conversion(s); {counts['enqueued']} postback(s) enqueued"
                   + (f", {counts['due'] - counts['enqueued']} left to the sweeper"
                      if counts["due"] > counts["enqueued"] else ""))


def reconcile_source(rt, source, since: datetime) -> Counter:
    """List, then feed each resource's conversions to ingest; what was already stored is skipped."""
    api, params = APIS[source.platform], rt.config.click_params()
    resources = list(LISTINGS[source.platform](source, since))
    counts = Counter(found=len(resources))
    with click.progressbar(resources, label=f"reconciling {source.name}") as bar:
        for resource in bar:
            for webhook in api.webhooks_for(resource, source, params):
                stored = ingest.store_webhook(rt, source, webhook)
                counts["new"] += len(stored.event_ids)
                counts["due"] += len(stored.due)
                counts["enqueued"] += queue.enqueue(rt.queue_or_none(), stored.due)
    return counts


def _source(rt, name: str):
    source = rt.config.source(name)
    if source is None:
        raise click.UsageError(f"no source named {name!r}")
    return source


def _call(rt, function, *args):
    """Run an API step; its errors become one masked line, not a traceback."""
    try:
        return function(*args)
    except ConnectorError as exc:
        raise click.ClickException(rt.mask(str(exc))) from None


def _noun(source) -> str:
    return "event(s)" if source.platform == "stripe" else "order(s)"
