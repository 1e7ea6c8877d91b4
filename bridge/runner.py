"""`bridge run`: embedded Redis when REDIS_URL is unset, then web (gunicorn) and worker."""

import os
import shutil
import signal
import subprocess
import sys
import time

from bridge import paths
from bridge.embedded_redis import EmbeddedRedis


def prepare_metrics_dir() -> None:
    """Point PROMETHEUS_MULTIPROC_DIR at var/prometheus when the operator did not set it.

    It must be set before prometheus_client is imported, so `bridge run/web/worker` call this
    first; the processes they start inherit it. Files of a previous run are removed."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    path = paths.var_dir() / "prometheus"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path.resolve())


def gunicorn_command(port: int, workers: int = 2, threads: int = 8) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "bridge.app:create_app()",
            "--bind", f"0.0.0.0:{port}", "--workers", str(workers), "--threads", str(threads),
            "--worker-class", "gthread", "--graceful-timeout", "20", "--timeout", "60",
            "--access-logfile", "-", "--log-level", "warning",
            "--config", "python:bridge.gunicorn_hooks"]


def default_worker_processes(per_core: bool) -> int:
    """WORKER_CONCURRENCY, else one worker process per core (`bridge run`) or one (`bridge
    worker`: Procfile hosts scale that process type themselves)."""
    fallback = (os.cpu_count() or 1) if per_core else 1
    return max(1, int(os.environ.get("WORKER_CONCURRENCY") or fallback))


def worker_commands(processes: int, burst: bool = False, sweeper: bool = True) -> list[list[str]]:
    """One `bridge worker` process each; only the first runs the sweeper."""
    extra = ["--burst"] if burst else []
    return [[sys.executable, "-m", "bridge", "worker", "--workers", "1", *extra,
             *([] if sweeper and n == 0 else ["--no-sweeper"])] for n in range(processes)]


def run_workers(commands: list[list[str]], burst: bool = False) -> int:
    """`bridge worker --workers N`: supervise N worker processes like `bridge run` does (with
    burst: until every one has emptied the queue)."""
    children = []
    try:
        children = [subprocess.Popen(command) for command in commands]
        if burst:
            return max(child.wait() for child in children)
        return _supervise(children)
    finally:
        _stop(children)


def become_supervisor(port: int, workers: int) -> None:
    """Replace this process (`bridge run`, which checked the config and migrated the database,
    importing most of the bridge) by a fresh interpreter that holds only this module."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "bridge.runner", str(port), str(workers)])


def say(line: str) -> None:
    print(line, flush=True)


def run(port: int, echo=say, workers: int = 1) -> int:
    """Start everything, supervise, and stop it all on SIGTERM/SIGINT or when one part dies."""
    redis = None
    if not os.environ.get("REDIS_URL"):
        redis = EmbeddedRedis(paths.var_dir() / "redis").start()
        os.environ["REDIS_URL"] = redis.url
        echo(f"Embedded Redis on {redis.url} (data in {redis.data_dir})")
    children = []
    try:
        children = [subprocess.Popen(command)
                    for command in [gunicorn_command(port), *worker_commands(workers)]]
        echo(f"Postback Bridge on {os.environ['PUBLIC_URL']} — Ctrl-C to stop")
        return _supervise(children)
    finally:
        _stop(children)
        if redis:
            redis.stop()


def _supervise(children) -> int:
    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.append(True))
    while not stopping:
        for child in children:
            if child.poll() is not None:
                print(f"process {' '.join(child.args[2:4])} exited with {child.returncode}; "
                      "stopping",
                      file=sys.stderr)
                return child.returncode or 1
        time.sleep(0.5)
    return 0


def _stop(children, timeout_s: float = 25) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for child in children:
        try:
            child.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            child.kill()


if __name__ == "__main__":
    sys.exit(run(int(sys.argv[1]), workers=int(sys.argv[2])))
