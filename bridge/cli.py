"""The `bridge` command (also `python -m bridge`).

Each command imports what it uses when it runs: `bridge run` supervises and `bridge worker` sends
postbacks without holding Flask, the store APIs' clients or Alembic in memory."""

import importlib
import os
import sys
from decimal import Decimal

import click

from bridge import paths

WORKER_NICENESS = 10  # below the web tier's priority: a webhook burst is answered first


def _runtime():
    """The config-loaded runtime, or a clean exit listing the config's problems."""
    from bridge import runtime, settings
    try:
        return runtime.install(runtime.build())
    except settings.ConfigError as exc:
        click.echo("Config errors:\n  " + "\n  ".join(exc.problems), err=True)
        sys.exit(2)


class Commands(click.Group):
    """A group whose commands kept in other modules are imported on first use."""

    ELSEWHERE = {"clicks": "cli_clicks", "conversions": "cli_clicks", "connect": "cli_connect",
                 "reconcile": "cli_connect", "deliveries": "cli_deliveries",
                 "networks": "cli_networks", "status": "cli_status", "forget": "cli_privacy"}

    def list_commands(self, ctx) -> list[str]:
        return sorted({*self.commands, *self.ELSEWHERE})

    def get_command(self, ctx, name):
        if name not in self.commands and name in self.ELSEWHERE:
            importlib.import_module(f"bridge.{self.ELSEWHERE[name]}").register(self, _runtime)
        return super().get_command(ctx, name)


@click.group(cls=Commands)
def main():
    """Postback Bridge: store webhooks in, affiliate postbacks out."""


def _workers_option(command):
    return click.option("--workers", type=click.IntRange(min=1), default=None,
                        help="Worker processes (default: WORKER_CONCURRENCY; else one, and "
                        "for run a spare per further core while it is busy).")(command)


@main.command()
@click.option("--port", type=int, default=lambda: int(os.environ.get("PORT", "8000")))
@_workers_option
def run(port, workers):
    """Web, worker and sweeper (and an embedded Redis when REDIS_URL is unset)."""
    from bridge import firstrun, runner
    runner.prepare_metrics_dir()
    os.environ["PORT"] = str(port)
    os.environ.setdefault("PUBLIC_URL", f"http://127.0.0.1:{port}")
    firstrun.prepare(click.echo)
    rt = _runtime()
    _migrate(rt)
    rt.engine.dispose()  # no database connection is carried into the supervisor
    runner.become_supervisor(port, *runner.worker_processes(workers, spares=True))


@main.command()
@click.option("--port", type=int, default=lambda: int(os.environ.get("PORT", "8000")))
@click.option("--workers", type=int, default=lambda: int(os.environ.get("WEB_CONCURRENCY", "2")))
def web(port, workers):
    """The web tier alone (gunicorn), for hosts that run it apart (Procfile `web`)."""
    from bridge import runner
    runner.prepare_metrics_dir()
    _migrate(_runtime())
    command = runner.gunicorn_command(port, workers)
    os.execv(command[0], command)


@main.command()
@click.option("--burst", is_flag=True, help="Exit when the queue is empty.")
@click.option("--no-sweeper", is_flag=True, help="Do not run the sweeper in this process.")
@click.option("--idle-exit", type=click.IntRange(min=1), default=None, metavar="SECONDS",
              help="Exit after this long without a job (the spares of `bridge run`).")
@_workers_option
def worker(burst, no_sweeper, idle_exit, workers):
    """RQ workers for postbacks, one with the sweeper (Procfile `worker`)."""
    from bridge.runner import prepare_metrics_dir, run_workers, worker_commands, worker_processes
    prepare_metrics_dir()
    workers, _ = worker_processes(workers, spares=False)
    if workers > 1:
        _runtime()  # config errors once, before starting the processes
        sys.exit(run_workers(worker_commands(workers, burst, not no_sweeper), burst))
    from workers import runner
    os.nice(WORKER_NICENESS)
    sys.exit(runner.work(_runtime(), burst=burst, sweeper=not no_sweeper, idle_exit_s=idle_exit))


@main.command()
def migrate():
    """Bring the database schema up to date."""
    _migrate(_runtime())
    click.echo("database is up to date")


def _migrate(rt):
    from bridge.storage.db import migrate as upgrade
    upgrade(rt.engine)


@main.group()
def config():
    """Check the configuration."""


@config.command("check")
@click.option("--file", "path", type=click.Path(), default=None)
def config_check(path):
    """Print every error with its key path and line, or the sources and networks."""
    from bridge import settings
    paths.load_env_file()
    try:
        loaded = settings.load(path)
    except settings.ConfigError as exc:
        click.echo(f"{len(exc.problems)} error(s) in {path or paths.config_path()}:", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(1)
    cfg = loaded.config
    click.echo(f"{loaded.path}: OK")
    for warning in loaded.warnings:
        click.echo(f"  warning: {warning}")
    click.echo("Sources (paste the webhook URL into the store):")
    for source in cfg.sources:
        click.echo(f"  {source.name:<16} {source.platform:<12} "
                   f"{cfg.server.public_url}/webhooks/{source.name}")
    click.echo("Networks:")
    for network in cfg.networks:
        click.echo(f"  {network.name:<16} {network.preset or network.method:<12} "
                   f"events={','.join(network.events)} receives={network.receives}")


@main.command()
@click.argument("source")
@click.option("--click-id", required=True)
@click.option("--amount", required=True, type=Decimal)
@click.option("--currency", default="EUR")
@click.option("--url", default=None, help="The bridge's base URL (default: server.public_url).")
def simulate(source, click_id, amount, currency, url):
    """Send a correctly signed test order from SOURCE to the running bridge."""
    import requests

    from bridge import simulate as sim
    from connectors.errors import InvalidPayloadError
    rt = _runtime()
    configured = rt.config.source(source)
    if configured is None:
        raise click.UsageError(f"no source named {source!r}")
    base = url or rt.config.server.public_url
    try:
        response = sim.send(configured, base, click_id, amount, currency)
    except requests.ConnectionError:
        raise click.ClickException(f"nothing answers at {base}: is `bridge run` running? "
                                   "(--url points elsewhere)") from None
    except InvalidPayloadError as error:  # e.g. a currency that is not ISO 4217
        raise click.UsageError(str(error)) from None
    click.echo(f"{response.status_code} {response.text.strip()}")
    sys.exit(0 if response.ok else 1)

if __name__ == "__main__":
    main()
