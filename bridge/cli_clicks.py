"""`bridge clicks import <csv>` and `bridge conversions import <csv>`."""

import csv

import click

from bridge import clickstore, offline
from bridge.exceptions import InvalidInputError


def register(main, runtime_factory) -> None:
    @main.group()
    def clicks():
        """Captured clicks: import them from elsewhere."""

    @clicks.command("import")
    @click.argument("path", type=click.File(encoding="utf-8-sig"))
    def import_clicks(path):
        """Store clicks from a CSV (header: click_id, network, click_param, email, clicked_at…)."""
        rt = runtime_factory()

        def store(row):
            with rt.session() as session:
                clickstore.record(session, rt.config, clickstore.from_mapping(row, "import", True))
            return "stored"

        _import_rows(path, store, "importing clicks")

    @main.group()
    def conversions():
        """Offline conversions (phone orders, qualified leads): import them."""

    @conversions.command("import")
    @click.argument("path", type=click.File(encoding="utf-8-sig"))
    def import_conversions(path):
        """Attribute, route and send conversions from a CSV (txn_id, amount, currency, …)."""
        rt = runtime_factory()
        _import_rows(path, lambda row: offline.store(rt, row).status, "importing conversions")


def _import_rows(path, store, label: str) -> None:
    """Run store() on each CSV row with a progress bar; count outcomes, list bad lines."""
    rows = list(csv.DictReader(path))
    counts, problems = {}, []
    with click.progressbar(rows, label=label) as bar:
        for line, row in enumerate(bar, start=2):
            try:
                outcome = store({k: v for k, v in row.items() if k and v not in (None, "")})
            except InvalidInputError as exc:
                outcome = "error"
                problems.append(f"line {line}: {exc}")
            counts[outcome] = counts.get(outcome, 0) + 1
    click.echo(", ".join(f"{n} {what}" for what, n in counts.items()) or "no rows")
    for problem in problems[:50]:
        click.echo(f"  {problem}", err=True)
    if problems:
        raise SystemExit(1)
