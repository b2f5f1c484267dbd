"""The worker process: an RQ worker (with its scheduler) inside the app's runtime.

Queues are drained most urgent first: `turns` (callers' texts), then `outbox`, then
`default` (timers, retraining). Each job gets a fresh database session.
"""

from __future__ import annotations

import logging
from typing import Any

from rq import SimpleWorker
from rq.job import Job

from bot import db, outbox, runtime

log = logging.getLogger(__name__)


class TenFourWorker(SimpleWorker):
    """Runs jobs in the worker process itself (no fork: jobs are short and share the
    connection pools) and removes the job's database session after each one."""

    def perform_job(self, job: Job, queue: Any, *args: Any) -> bool:
        try:
            return bool(super().perform_job(job, queue, *args))
        finally:
            db.session.remove()

    def run_maintenance_tasks(self) -> None:
        """RQ's periodic upkeep (at start, then every 10 minutes), plus the outbox sweep."""
        super().run_maintenance_tasks()
        outbox.sweep_if_due()


class BurstWorker(TenFourWorker):
    """Drains the queues and quits. It skips RQ's pub/sub command listener: nobody sends
    commands to a burst worker, and with rq 3 / redis-py 8 stopping that listener can
    stall a short burst for 60 s."""

    def subscribe(self) -> None:
        pass


def run_worker(burst: bool = False, with_scheduler: bool = True) -> bool:
    rt = runtime.current()
    worker_class = BurstWorker if burst else TenFourWorker
    worker = worker_class([rt.queue(name) for name in runtime.QUEUE_NAMES], connection=rt.redis)
    return bool(worker.work(burst=burst, with_scheduler=with_scheduler, logging_level="WARNING"))
