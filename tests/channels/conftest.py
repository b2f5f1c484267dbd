"""Fixtures for the channel tests: the Twilio test server, draining the outbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rq.scheduler import RQScheduler

from bot import runtime
from tests.twilio_server import TwilioTestServer


@pytest.fixture
def twilio_server() -> Iterator[TwilioTestServer]:
    with TwilioTestServer() as server:
        yield server


@pytest.fixture
def deliver_all(run_worker: Any) -> Callable[[], None]:
    """Runs the worker and RQ's scheduler until no send is waiting (retries included)."""

    def run(rounds: int = 50) -> None:
        rt = runtime.current()
        queues = [rt.queue(name) for name in runtime.QUEUE_NAMES]
        for _ in range(rounds):
            run_worker()
            due = sum(len(q.scheduled_job_registry.get_jobs_to_schedule()) for q in queues)
            if not due:
                return
            scheduler = RQScheduler(queues, connection=rt.redis)
            scheduler.acquire_locks()
            try:
                scheduler.enqueue_scheduled_jobs()
            finally:
                scheduler.release_locks()
        raise AssertionError(f"the outbox did not settle in {rounds} rounds")

    return run
