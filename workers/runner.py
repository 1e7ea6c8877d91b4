"""The worker process: an RQ worker on the postbacks queue, with the inbox thread and the
sweeper beside it."""

import logging

from rq import SimpleWorker

from bridge import logs
from workers.inbox import InboxThread, drain
from workers.sweeper import Sweeper

log = logging.getLogger("bridge.worker")


def work(rt, burst: bool = False, sweeper: bool = True, idle_exit_s: int | None = None) -> int:
    """Run until stopped (or, with burst, until the queue is empty; with idle_exit_s, until no
    job came for that long)."""
    logs.configure(mask=rt.mask)
    inbox = InboxThread(rt)
    if burst:
        drain(rt)  # what is in the inbox becomes deliveries first
    else:
        inbox.start()
    thread = Sweeper(rt) if sweeper else None
    if thread:
        thread.tick()  # catch up at once: deliveries may have waited while no worker ran
        thread.start()
    try:
        # SimpleWorker runs jobs in this process: no fork per job, the DB pool is reused.
        worker = SimpleWorker([rt.queue], connection=rt.redis)
        worker.work(burst=burst, logging_level="WARNING", with_scheduler=False,
                    max_idle_time=idle_exit_s)
    finally:
        inbox.stop()
        if thread:
            thread.stop()
    return 0
