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

    def subscribe(self) -> None:
        """RQ's command channel (e.g. `rq suspend`), polled every second rather than RQ's
        60 s: with redis-py 8, stopping the worker waits for that poll to return."""
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]
            sleep_time=1, daemon=True, exception_handler=self._pubsub_exception_handler
        )

    def run_maintenance_tasks(self) -> None:
        """RQ's periodic upkeep (at start, then every 10 minutes), plus the outbox sweep."""
        super().run_maintenance_tasks()
        outbox.sweep_if_due()


class BurstWorker(TenFourWorker):
    """Drains the queues and quits; nobody sends commands to it, so no command channel."""

    def subscribe(self) -> None:
        pass


def run_worker(burst: bool = False, with_scheduler: bool = True) -> bool:
    rt = runtime.current()
    worker_class = BurstWorker if burst else TenFourWorker
    worker = worker_class([rt.queue(name) for name in runtime.QUEUE_NAMES], connection=rt.redis)
    return bool(worker.work(burst=burst, with_scheduler=with_scheduler, logging_level="WARNING"))
