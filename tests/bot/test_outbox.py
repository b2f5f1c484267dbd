"""The outbox: at most once, retried while worth it, never retried when refused.

Every test sends through the real `twilio` library to the Twilio test server. Retries
are scheduled with RQ's `enqueue_in`; `deliver_all()` runs RQ's own scheduler to move
due retries to the queue (the retry backoff is `0s` here, so they are due at once).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot import db, outbox, runtime
from bot.models import Caller, Message
from tests.factories import (
    create_call,
    create_caller,
    deliver_all,
    enqueue_due_retries,
    queue_outbound,
    reload_message,
)
from tests.twilio_server import (
    TwilioTestServer,
    twilio_settings,
)

CALLER = "+15415550123"


@pytest.fixture
def settings_env(settings_env: dict[str, Any], twilio_server: TwilioTestServer) -> dict[str, Any]:
    return {**settings_env, **twilio_settings(twilio_server), "TENFOUR_RETRY_BACKOFF": "0s"}


# --- sending --------------------------------------------------------------------------


def test_a_queued_message_is_sent_once(app, run_worker, twilio_server):
    caller = create_caller(CALLER)
    message_id = queue_outbound(caller, create_call(caller))

    run_worker()

    [sent] = twilio_server.accepted
    assert sent["to"] == CALLER and sent["body"] == "Your call is in the queue."
    sent_message = reload_message(message_id)
    assert sent_message.status == "sent"  # Twilio's callbacks take it further
    assert sent_message.provider_sid == sent["sid"]
    assert sent_message.attempts == 1


def test_a_send_job_enqueued_twice_sends_once(app, run_worker, twilio_server):
    caller = create_caller(CALLER)
    message_id = queue_outbound(caller)
    outbox.dispatch([reload_message(message_id)])  # still queued, so a second job

    run_worker()

    assert len(twilio_server.accepted) == 1
    assert reload_message(message_id).attempts == 1


def test_second_worker_finds_the_message_claimed_while_the_first_sends(app, twilio_server):
    caller = create_caller(CALLER)
    message_id = queue_outbound(caller)
    results: list[str] = []

    def first_worker() -> None:
        try:
            results.append(outbox.send(message_id))
        finally:
            db.session.remove()

    with twilio_server.hold() as gate:
        thread = threading.Thread(target=first_worker)
        thread.start()
        assert gate.arrived.wait(timeout=20)  # the first is inside Twilio's API call
        assert outbox.send(message_id) == "not-queued"
        assert reload_message(message_id).status == "sending"
    thread.join(timeout=20)

    assert results == ["sent"]
    assert len(twilio_server.accepted) == 1


def test_opted_out_caller_gets_nothing(app, run_worker, twilio_server):
    caller = create_caller(CALLER, opted_out_at=datetime.now(UTC))
    message_id = queue_outbound(caller)
    run_worker()
    assert reload_message(message_id).status == "suppressed"
    assert twilio_server.requests == 0


def test_caller_who_opts_out_after_queueing_gets_nothing(app, run_worker, twilio_server):
    caller = create_caller(CALLER)
    message_id = queue_outbound(caller)
    caller.opted_out_at = datetime.now(UTC)
    db.session.commit()
    run_worker()
    assert reload_message(message_id).status == "suppressed"
    assert twilio_server.requests == 0


def test_compliance_confirmation_reaches_an_opted_out_caller(app, run_worker, twilio_server):
    caller = create_caller(CALLER, opted_out_at=datetime.now(UTC))
    s = db.session()
    confirmation = outbox.queue_message(
        s, caller, None, "compliance", "You are unsubscribed.", "en"
    )
    s.commit()
    outbox.dispatch([confirmation])
    run_worker()
    assert [m["body"] for m in twilio_server.accepted] == ["You are unsubscribed."]


# --- temporary failures ---------------------------------------------------------------


@pytest.mark.parametrize(("status", "code"), [(429, 20429), (500, 20500), (503, 20503)])
def test_temporary_failure_is_retried(app, run_worker, twilio_server, status, code):
    caller = create_caller(CALLER)
    message_id = queue_outbound(caller)
    twilio_server.fail_next(2, status, code)

    run_worker()
    waiting = reload_message(message_id)
    assert waiting.status == "queued"
    assert waiting.error_code == str(code)
    assert waiting.next_attempt_at is not None
    assert len(runtime.current().queue(runtime.OUTBOX).scheduled_job_registry) == 1

    deliver_all()

    done = reload_message(message_id)
    assert done.status == "sent"
    assert done.attempts == 3
    assert done.error_code is None
    assert len(twilio_server.accepted) == 1


def test_network_failure_is_retried_until_the_server_is_back(app, run_worker, twilio_server):
    caller = create_caller(CALLER)
    message_id = queue_outbound(caller)
    port = twilio_server.port
    twilio_server.stop()

    run_worker()
    assert reload_message(message_id).status == "queued"
    assert reload_message(message_id).error_code == "network"

    revived = TwilioTestServer(port=port).start()
    try:
        deliver_all()
        assert len(revived.accepted) == 1
    finally:
        revived.stop()
    assert reload_message(message_id).status == "sent"


def test_no_answer_is_never_retried(app, run_worker, twilio_server):
    """Twilio may have taken it: the message waits for a callback, never a second send."""
    caller = create_caller(CALLER)
    message_id = queue_outbound(caller)
    twilio_server.drop_next(1)

    deliver_all()

    unknown = reload_message(message_id)
    assert unknown.status == "sending"
    assert unknown.error_code == "no-answer"
    assert twilio_server.requests == 1


def test_retries_stop_at_the_deadline(app, run_worker, twilio_server, monkeypatch):
    rt = runtime.current()
    monkeypatch.setattr(rt, "settings", replace(rt.settings, retry_backoff=timedelta(seconds=5)))
    caller = create_caller(CALLER)
    message_id = queue_outbound(caller)
    row = reload_message(message_id)
    row.send_deadline = datetime.now(UTC) + timedelta(seconds=1)
    db.session.commit()
    twilio_server.outage(500)

    run_worker()  # the first retry would come 2.5-5 s later: after the deadline

    failed = reload_message(message_id)
    assert (failed.status, failed.error_code) == ("failed", "20500")
    assert twilio_server.requests == 1
    assert len(rt.queue(runtime.OUTBOX).scheduled_job_registry) == 0


def test_a_message_past_its_deadline_is_not_sent(app, run_worker, twilio_server):
    caller = create_caller(CALLER)
    message_id = queue_outbound(caller)
    row = reload_message(message_id)
    row.send_deadline = datetime.now(UTC) - timedelta(seconds=1)
    db.session.commit()

    run_worker()

    assert reload_message(message_id).status == "failed"
    assert reload_message(message_id).error_code == "expired"
    assert twilio_server.requests == 0


def test_backoff_grows_exponentially_with_jitter():
    base = timedelta(seconds=5)
    for attempt, step in [(1, 5), (2, 10), (3, 20), (4, 40)]:
        delays = {outbox.backoff(attempt, base) for _ in range(50)}
        assert all(timedelta(seconds=step / 2) <= d <= timedelta(seconds=step) for d in delays)
        assert len(delays) > 1  # jittered, so retries of many messages spread out
    assert outbox.backoff(30, base) <= outbox.BACKOFF_CAP


# --- permanent failures ---------------------------------------------------------------


def test_21610_fails_the_message_and_opts_the_caller_out(app, run_worker, twilio_server):
    caller = create_caller(CALLER)
    first, second = queue_outbound(caller), queue_outbound(caller, body="An officer is assigned.")
    twilio_server.reject(CALLER, 21610)

    deliver_all()

    db.session.expire_all()
    assert db.session.get_one(Caller, caller.id).opted_out
    statuses = {reload_message(first).status, reload_message(second).status}
    assert statuses <= {"failed", "suppressed"} and "failed" in statuses
    assert twilio_server.requests == 1  # the second was never attempted
    later = queue_outbound(db.session.get_one(Caller, caller.id), body="Your call is closed.")
    assert reload_message(later).status == "suppressed"


@pytest.mark.parametrize("code", [21211, 21614, 30006])
def test_unreachable_number_is_remembered_and_not_retried(app, run_worker, twilio_server, code):
    caller = create_caller(CALLER)
    message_id = queue_outbound(caller)
    twilio_server.reject(CALLER, code)

    deliver_all()

    failed = reload_message(message_id)
    assert (failed.status, failed.error_code, failed.attempts) == ("failed", str(code), 1)
    db.session.expire_all()
    assert db.session.get_one(Caller, caller.id).unreachable_at is not None
    later = queue_outbound(db.session.get_one(Caller, caller.id), body="Your call is closed.")
    run_worker()
    assert reload_message(later).status == "failed"  # no email to fall back on
    assert reload_message(later).error_code == "unreachable"
    assert twilio_server.requests == 1


def test_other_refusals_fail_without_retry(app, run_worker, twilio_server):
    caller = create_caller(CALLER)
    message_id = queue_outbound(caller, body="")  # Twilio 21602: a body is required
    deliver_all()
    assert (reload_message(message_id).status, reload_message(message_id).error_code) == (
        "failed",
        "21602",
    )
    assert twilio_server.requests == 1


# --- the flaky day --------------------------------------------------------------------


def _twenty_callers() -> list[int]:
    ids = []
    for n in range(20):
        caller = create_caller(f"+1541555{n:04d}", language="es" if n % 2 else "en")
        call = create_call(caller, cad_id=f"MPD-26-{n:06d}")
        ids.append(queue_outbound(caller, call, body=f"Aviso {n}: su llamada MPD-26-{n:06d}."))
    return ids


def _assert_each_delivered_once(server: TwilioTestServer, ids: list[int]) -> None:
    bodies = sorted(m["body"] for m in server.accepted)
    assert bodies == sorted(f"Aviso {n}: su llamada MPD-26-{n:06d}." for n in range(20))
    db.session.expire_all()
    rows = db.session.scalars(select(Message).where(Message.id.in_(ids))).all()
    assert {row.status for row in rows} == {"sent"}
    assert {row.provider_sid for row in rows} == {m["sid"] for m in server.accepted}


def test_outbox_survives_429s_and_500s_delivering_each_message_once(app, run_worker, twilio_server):
    twilio_server.fail_next(15, 429)
    twilio_server.fail_next(10, 500)
    twilio_server.fail_next(5, 503)
    ids = _twenty_callers()
    for message_id in ids[:5]:  # and a few send jobs enqueued twice, as a lost ack would
        runtime.enqueue(runtime.OUTBOX, outbox.send, message_id)

    deliver_all()

    _assert_each_delivered_once(twilio_server, ids)
    assert twilio_server.requests == 20 + 30
    assert sum(reload_message(i).attempts for i in ids) == 50


def test_outbox_rides_out_an_outage(app, run_worker, twilio_server):
    """Twilio answers 500 to everything for a while, then recovers."""
    twilio_server.outage(500)
    ids = _twenty_callers()
    for _ in range(3):
        run_worker()
        enqueue_due_retries()
    assert {reload_message(i).status for i in ids} == {"queued"}
    assert twilio_server.accepted == []

    twilio_server.recover()
    deliver_all()

    _assert_each_delivered_once(twilio_server, ids)
    assert all(reload_message(i).attempts == 4 for i in ids)


def test_two_worker_processes_deliver_each_message_once(app, twilio_server, settings_env, tmp_path):
    """Two real `tenfour worker` processes, every send job enqueued twice, a flaky Twilio."""
    twilio_server.fail_next(10, 429)
    twilio_server.fail_next(6, 500)
    ids = _twenty_callers()
    for message_id in ids:
        runtime.enqueue(runtime.OUTBOX, outbox.send, message_id)
    env = {**os.environ, **{k: str(v) for k, v in settings_env.items()}, "LOG_LEVEL": "WARNING"}
    tenfour = os.path.join(os.path.dirname(sys.executable), "tenfour")

    with open(tmp_path / "workers.log", "w") as log:
        for _ in range(20):
            # Each burst worker's scheduler moves the retries that are due when it starts.
            workers = [
                subprocess.Popen([tenfour, "worker", "--burst"], env=env, stderr=log)
                for _ in range(2)
            ]
            codes = [worker.wait(timeout=120) for worker in workers]
            assert codes == [0, 0], (tmp_path / "workers.log").read_text()
            db.session.expire_all()
            waiting = db.session.scalars(
                select(Message.id).where(Message.id.in_(ids), Message.status == "queued")
            ).all()
            if not waiting:
                break

    _assert_each_delivered_once(twilio_server, ids)


# --- the sweeper ----------------------------------------------------------------------


def test_sweeper_resends_messages_whose_job_was_lost(app, run_worker, twilio_server):
    caller = create_caller(CALLER)
    lost = queue_outbound(caller)
    runtime.current().redis.flushdb()  # Redis restarted without its data
    run_worker()
    assert reload_message(lost).status == "queued"  # nothing left to send it

    later = datetime.now(UTC) + outbox.LOST_JOB_GRACE + timedelta(seconds=1)
    assert outbox.sweep(now=later) == {"requeued": 1, "expired": 0, "interrupted": 0}
    run_worker()

    assert reload_message(lost).status == "sent"
    assert len(twilio_server.accepted) == 1


def test_sweeper_leaves_fresh_and_scheduled_messages_alone(app, run_worker, twilio_server):
    caller = create_caller(CALLER)
    fresh = queue_outbound(caller)
    assert outbox.sweep() == {"requeued": 0, "expired": 0, "interrupted": 0}
    run_worker()
    assert reload_message(fresh).status == "sent"
    assert len(twilio_server.accepted) == 1


def test_sweeper_expires_lost_messages_past_their_deadline(app, twilio_server):
    caller = create_caller(CALLER)
    lost = queue_outbound(caller)
    runtime.current().redis.flushdb()
    later = datetime.now(UTC) + runtime.current().settings.send_deadline + timedelta(minutes=1)
    assert outbox.sweep(now=later)["expired"] == 1
    assert (reload_message(lost).status, reload_message(lost).error_code) == ("failed", "expired")


def test_sweeper_settles_a_send_that_never_ended_without_sending_again(
    app, run_worker, twilio_server
):
    caller = create_caller(CALLER)
    message_id = queue_outbound(caller)
    twilio_server.drop_next(1)
    run_worker()
    assert reload_message(message_id).status == "sending"

    later = datetime.now(UTC) + outbox.STALE_SENDING + timedelta(seconds=1)
    assert outbox.sweep(now=later)["interrupted"] == 1
    run_worker()

    assert (reload_message(message_id).status, reload_message(message_id).error_code) == (
        "failed",
        "no-answer",
    )
    assert twilio_server.requests == 1


def test_worker_start_runs_the_sweep(app, run_worker, twilio_server):
    caller = create_caller(CALLER)
    lost = queue_outbound(caller)
    runtime.current().redis.flushdb()
    row = reload_message(lost)
    row.updated_at = datetime.now(UTC) - outbox.LOST_JOB_GRACE - timedelta(seconds=1)
    db.session.commit()

    run_worker()  # the sweep runs in the worker's start-up maintenance, then the worker sends
    run_worker()

    assert reload_message(lost).status == "sent"
    assert len(twilio_server.accepted) == 1
