"""The dashboard's pages (server-rendered) and its two actions: retry and replay."""

from datetime import date, datetime

from flask import abort, current_app, flash, redirect, render_template, request, url_for

from bridge import audit, cli_networks, status
from bridge.admin import auth, bp, chart, queries
from bridge.cli_deliveries import REPLAYABLE, replayable, restart
from bridge.storage.models import DELIVERED, Delivery

STATUSES = ("pending", "sending", "delivered", "retrying", "rejected", "dead", "skipped")
bp.add_url_rule("/login", "login", auth.login, methods=["GET", "POST"])
bp.add_url_rule("/logout", "logout", auth.logout, methods=["POST"])


def _runtime():
    return current_app.config["RUNTIME"]


@bp.app_context_processor
def _template_helpers():
    return {"csrf_token": auth.csrf_token, "config": _runtime().config, "statuses": STATUSES}


@bp.get("/")
def overview():
    rt = _runtime()
    with rt.session() as session:
        days = queries.per_day(session)
    figures = status.collect(rt)
    return render_template("admin/overview.html", days=days, chart=chart.bars(days),
                           figures=figures)


@bp.get("/events")
def events():
    args = request.args
    with _runtime().session() as session:
        rows = queries.events(session, args.get("source", ""), args.get("status", ""),
                              args.get("before", type=int))
        return render_template("admin/events.html", rows=rows, args=args)


@bp.get("/deliveries")
def deliveries():
    wanted = queries.DeliveryFilter.from_args(request.args)
    with _runtime().session() as session:
        rows = queries.deliveries(session, wanted)
        return render_template("admin/deliveries.html", rows=rows, wanted=wanted,
                               today=date.today().isoformat())


@bp.get("/deliveries/<int:delivery_id>")
def delivery(delivery_id: int):
    with _runtime().session() as session:
        row = session.get(Delivery, delivery_id) or abort(404)
        return render_template("admin/delivery.html", d=row, e=row.event,
                               can_retry=row.status in REPLAYABLE)


@bp.post("/deliveries/<int:delivery_id>/retry")
def retry(delivery_id: int):
    with _runtime().session() as session:
        row = session.get(Delivery, delivery_id) or abort(404)
        if row.status not in REPLAYABLE:
            flash(f"Delivery {delivery_id} is {row.status}: "
                  "only dead or rejected ones are retried.")
        else:
            restart(row, "retry requested")
            audit.record(session, auth.actor(), "retry", f"delivery {delivery_id}")
            flash(f"Delivery {delivery_id} will be sent again within seconds.")
    return redirect(url_for("admin.delivery", delivery_id=delivery_id))


@bp.post("/replay")
def replay():
    form = request.form
    network, since = form.get("network", ""), queries.parse_date(form.get("since"))
    until = queries.parse_date(form.get("until"))
    if _runtime().config.network(network) is None or since is None:
        flash("Replay needs a configured network and a start date.")
        return redirect(url_for("admin.deliveries"))
    statuses = REPLAYABLE + ((DELIVERED,) if form.get("include_delivered") else ())
    with _runtime().session() as session:
        rows = replayable(session, network, queries.start_of(since),
                          queries.start_of(until, 1) if until else None, statuses)
        for row in rows:
            restart(row, "replay requested")
        audit.record(session, auth.actor(), "replay", f"network {network}",
                     f"{since} to {until or 'now'} ({', '.join(statuses)}): {len(rows)} deliveries")
    flash(f"{len(rows)} deliveries to {network} will be sent again.")
    return redirect(url_for("admin.deliveries", network=network))


@bp.post("/networks/<name>/test")
def test_network(name: str):
    """The dashboard's "send test postback": the network's test mode, never a real conversion."""
    network = _runtime().config.network(name) or abort(404)
    if network.test_mode is None:
        flash(f"{name} has no test mode: a test postback would count as a real conversion.")
    else:
        outcome, attempt = cli_networks.fire_test(_runtime(), network)
        flash(f"Test postback to {name}: {attempt.response_status or attempt.error} "
              f"{outcome.status} ({outcome.reason})")
    return redirect(url_for("admin.overview"))


@bp.post("/networks/<name>/<any(pause, resume):action>")
def pause_network(name: str, action: str):
    _runtime().config.network(name) or abort(404)
    with _runtime().session() as session:
        cli_networks.set_paused(session, name, action == "pause",
                                "paused by hand" if action == "pause" else "", auth.actor())
    flash(f"Network {name} {'paused' if action == 'pause' else 'resumed'}.")
    return redirect(url_for("admin.overview"))


@bp.get("/sources")
def sources():
    figures = status.collect(_runtime())
    return render_template("admin/sources.html", sources=figures.sources)


@bp.get("/accuracy")
def accuracy():
    rt = _runtime()
    with rt.session() as session:
        rows = queries.accuracy(session)
        missing = queries.not_sent(session)
        return render_template("admin/accuracy.html", rows=rows, missing=missing,
                               networks=[n.name for n in rt.config.networks],
                               threshold=rt.config.alerts.accuracy_threshold)


@bp.get("/audit")
def audit_log():
    with _runtime().session() as session:
        return render_template("admin/audit.html", rows=queries.audit_log(session))


@bp.app_template_filter("when")
def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}" if moment else "—"

