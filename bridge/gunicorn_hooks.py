"""Gunicorn hooks (`--config python:bridge.gunicorn_hooks`): each web worker also watches for
conditions to alert on (see bridge.alerts.watch)."""

import os
import threading


def post_worker_init(worker) -> None:
    from bridge import alerts, runtime

    stop = threading.Event()
    interval_s = float(os.environ.get("BRIDGE_ALERT_WATCH_S", alerts.CHECK_EVERY_S))
    threading.Thread(target=alerts.watch, args=(runtime.current(), stop, interval_s),
                     name="alert-watch", daemon=True).start()
    worker.alert_watch_stop = stop


def worker_exit(server, worker) -> None:
    stop = getattr(worker, "alert_watch_stop", None)
    if stop:
        stop.set()
