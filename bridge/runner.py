"""`bridge run`: embedded Redis when REDIS_URL is unset, then web (gunicorn) and worker."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from bridge import paths
from bridge.embedded_redis import EmbeddedRedis

SPARE_BUSY_CORES = 0.75  # the first worker process used this much of a core in each second ...
SPARE_BUSY_S = 3  # ... of this many in a row (its start-up takes less): a spare starts
SPARE_IDLE_EXIT_S = 60  # a spare that found no job for this long exits


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


def worker_processes(asked: int | None, spares: bool) -> tuple[int, int]:
    """(steady, spare) worker processes: as many as asked (--workers, else WORKER_CONCURRENCY),
    else one, and (`bridge run`) up to a spare per other core while it is busy. `bridge worker`
    has no spares: Procfile hosts scale that process type themselves."""
    asked = asked or int(os.environ.get("WORKER_CONCURRENCY") or 0)
    if asked:
        return max(1, asked), 0
    return 1, (os.cpu_count() or 1) - 1 if spares else 0


def worker_commands(processes: int, burst: bool = False, sweeper: bool = True) -> list[list[str]]:
    """One `bridge worker` process each; only the first runs the sweeper."""
    extra = ["--burst"] if burst else []
    return [[sys.executable, "-m", "bridge", "worker", "--workers", "1", *extra,
             *([] if sweeper and n == 0 else ["--no-sweeper"])] for n in range(processes)]


def spare_command() -> list[str]:
    return [sys.executable, "-m", "bridge", "worker", "--workers", "1", "--no-sweeper",
            "--idle-exit", str(SPARE_IDLE_EXIT_S)]


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


def become_supervisor(port: int, workers: int, spares: int) -> None:
    """Replace this process (`bridge run`, which checked the config and migrated the database,
    importing most of the bridge) by a fresh interpreter that holds only this module."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "bridge.runner", str(port), str(workers),
                              str(spares)])


def say(line: str) -> None:
    print(line, flush=True)


def run(port: int, echo=say, workers: int = 1, spares: int = 0) -> int:
    """Start everything, supervise, and stop it all on SIGTERM/SIGINT or when one part dies."""
    redis = None
    if not os.environ.get("REDIS_URL"):
        redis = EmbeddedRedis(paths.var_dir() / "redis").start()
        os.environ["REDIS_URL"] = redis.url
        echo(f"Embedded Redis on {redis.url} (data in {redis.data_dir})")
    children, spare = [], Spares(spares)
    try:
        children = [subprocess.Popen(command)
                    for command in [gunicorn_command(port), *worker_commands(workers)]]
        echo(f"Postback Bridge on {os.environ['PUBLIC_URL']} — Ctrl-C to stop")
        return _supervise(children, lambda: spare.tick(children[1]))
    finally:
        _stop(children + spare.running)
        if redis:
            redis.stop()


class Spares:
    """Worker processes beyond the first, started while the first keeps most of a core busy (a
    process runs its jobs on one core, whatever its threads) and gone after SPARE_IDLE_EXIT_S
    without a job. Where /proc is missing (not Linux) no spare starts."""

    def __init__(self, limit: int, command: list[str] | None = None):
        self.limit, self.command = limit, command or spare_command()
        self.running, self.busy_seconds, self.sampled = [], 0, (0.0, time.monotonic())

    def tick(self, first: subprocess.Popen) -> None:
        """Forget the spares that left; every second, measure the first one's CPU."""
        for spare in self.running:
            if spare.poll():
                print(f"spare worker exited with {spare.returncode}", file=sys.stderr)
        self.running = [spare for spare in self.running if spare.returncode is None]
        now = time.monotonic()
        if self.limit == 0 or now - self.sampled[1] < 1:
            return
        cpu_s = cpu_seconds(first.pid)
        busy = (cpu_s - self.sampled[0]) / (now - self.sampled[1]) >= SPARE_BUSY_CORES
        self.sampled = (cpu_s, now)
        self.busy_seconds = self.busy_seconds + 1 if busy else 0
        if self.busy_seconds >= SPARE_BUSY_S and len(self.running) < self.limit:
            self.running.append(subprocess.Popen(self.command))
            self.busy_seconds = 0


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process and its threads so far (0 without /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (name) "
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _supervise(children, tick=lambda: None) -> int:
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
        tick()
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
    port, workers, spares = (int(arg) for arg in sys.argv[1:4])
    sys.exit(run(port, workers=workers, spares=spares))
