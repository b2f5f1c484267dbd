"""Draining the queues in-process with a real RQ worker, minus RQ's command channel.

A burst worker does not need RQ's pub/sub command channel, and with redis-py 8 stopping
that channel's thread can stall a burst run for up to 60 s (see bot.jobs); this worker
skips subscribing to it and is otherwise `bot.jobs.TenFourWorker` itself.
"""

from __future__ import annotations

from bot import db, runtime
from bot.jobs import TenFourWorker


class BurstWorker(TenFourWorker):
    def subscribe(self) -> None:
        """No command channel for a worker that stops when the queues are empty."""


def drain_queues() -> None:
    """Runs queued jobs until the queues are empty."""
    rt = runtime.current()
    worker = BurstWorker([rt.queue(name) for name in runtime.QUEUE_NAMES], connection=rt.redis)
    worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
    db.session.remove()
