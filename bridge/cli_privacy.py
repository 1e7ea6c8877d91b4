"""`bridge forget --email …`: erase one customer's data on request (GDPR)."""

import click

from bridge import audit, privacy
from bridge.exceptions import InvalidInputError


def register(main, runtime_factory) -> None:
    @main.command()
    @click.option("--email", required=True, help="The customer's email address.")
    def forget(email):
        """Erase what the bridge holds about one customer: email hash, payloads, clicks."""
        rt = runtime_factory()
        try:
            with rt.session() as session:
                done = privacy.forget_email(session, email, audit.cli_actor())
        except InvalidInputError as exc:
            raise click.UsageError(str(exc)) from None
        click.echo(f"Erased: {done.events} events (email hash, customer id, payload), "
                   f"{done.clicks} clicks, {done.attempts} postback logs. Recorded in the "
                   "audit log.")
