"""Twilio's status callbacks: signed, never moving a message backwards, acting on errors."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from bot import db, outbox
from bot.models import Caller, Message
from tests.factories import create_caller, twilio_signature
from tests.twilio_server import TwilioTestServer, twilio_settings

CALLER = "+15415550123"


@pytest.fixture
def settings_env(settings_env: dict[str, Any], twilio_server: TwilioTestServer) -> dict[str, Any]:
    return {**settings_env, **twilio_settings(twilio_server)}


def sent_message(run_worker: Any, body: str = "An officer is assigned.") -> Message:
    caller = db.session.get(Caller, create_caller(CALLER).id)
    assert caller is not None
    message = outbox.queue_message(db.session(), caller, None, "assigned", body, "en")
    db.session.commit()
    outbox.dispatch([message])
    run_worker()
    return fresh(message.id)


def fresh(message_id: int) -> Message:
    db.session.expire_all()
    return db.session.get_one(Message, message_id)


def report(client: Any, server: TwilioTestServer, sid: str, status: str, **kw: Any) -> Any:
    """Posts a status callback to the URL the message was sent with, signed like Twilio."""
    url = next(m["status_callback"] for m in server.accepted if m["sid"] == sid)
    form = server.status_callback_form(sid, status, **kw)
    return client.post(url, data=form, headers={"X-Twilio-Signature": twilio_signature(url, form)})


def test_callbacks_in_order_move_the_message_forward(client, run_worker, twilio_server):
    message = sent_message(run_worker)
    assert message.status == "sent"
    for status in ("queued", "sending", "sent", "delivered"):
        resp = report(client, twilio_server, message.provider_sid, status)
        assert resp.status_code == 200 and resp.mimetype == "text/xml"
    assert fresh(message.id).status == "delivered"


def test_late_callbacks_never_move_it_back(client, run_worker, twilio_server):
    message = sent_message(run_worker)
    report(client, twilio_server, message.provider_sid, "delivered")
    for late in ("sent", "sending", "queued", "accepted"):
        report(client, twilio_server, message.provider_sid, late)
    assert fresh(message.id).status == "delivered"


def test_forged_callback_is_rejected(client, run_worker, twilio_server):
    message = sent_message(run_worker)
    url = "http://localhost/webhooks/twilio/status"
    form = twilio_server.status_callback_form(message.provider_sid, "failed", error_code=21610)
    forged = twilio_signature(url, form, token="not-the-auth-token")
    resp = client.post(url, data=form, headers={"X-Twilio-Signature": forged})
    assert resp.status_code == 403
    assert fresh(message.id).status == "sent"
    assert not db.session.get_one(Caller, message.caller_id).opted_out


def test_callback_without_sid_or_status_is_malformed(client):
    url = "http://localhost/webhooks/twilio/status"
    form = {"MessageSid": "SM123"}
    resp = client.post(url, data=form, headers={"X-Twilio-Signature": twilio_signature(url, form)})
    assert resp.status_code == 400


def test_callback_for_an_unknown_message_is_acknowledged(client):
    url = "http://localhost/webhooks/twilio/status"
    form = {"MessageSid": "SM" + "f" * 32, "MessageStatus": "delivered"}
    resp = client.post(url, data=form, headers={"X-Twilio-Signature": twilio_signature(url, form)})
    assert resp.status_code == 200  # Twilio has nothing to retry; we have nothing to update


def test_carrier_opt_out_in_a_callback_opts_the_caller_out(client, run_worker, twilio_server):
    message = sent_message(run_worker)
    report(client, twilio_server, message.provider_sid, "failed", error_code=21610)
    failed = fresh(message.id)
    assert (failed.status, failed.error_code) == ("failed", "21610")
    assert db.session.get_one(Caller, message.caller_id).opted_out


@pytest.mark.parametrize("code", [30006, 21211, 21614])
def test_unreachable_in_a_callback_marks_the_number(client, run_worker, twilio_server, code):
    message = sent_message(run_worker)
    report(client, twilio_server, message.provider_sid, "undelivered", error_code=code)
    assert fresh(message.id).status == "undelivered"
    assert db.session.get_one(Caller, message.caller_id).unreachable_at is not None


def test_other_delivery_errors_touch_only_the_message(client, run_worker, twilio_server):
    message = sent_message(run_worker)
    report(client, twilio_server, message.provider_sid, "undelivered", error_code=30003)
    assert (fresh(message.id).status, fresh(message.id).error_code) == ("undelivered", "30003")
    caller = db.session.get_one(Caller, message.caller_id)
    assert caller.unreachable_at is None and not caller.opted_out


def test_callback_that_overtakes_the_worker_is_kept(client, run_worker, twilio_server):
    """Twilio can report "delivered" before the worker has recorded the message's sid."""
    caller = create_caller(CALLER)
    message = outbox.queue_message(db.session(), caller, None, "assigned", "Hello.", "en")
    db.session.commit()
    outcome: list[str] = []

    def worker() -> None:
        try:
            outcome.append(outbox.send(message.id))
        finally:
            db.session.remove()

    with twilio_server.hold(after_accept=True) as gate:
        thread = threading.Thread(target=worker)
        thread.start()
        assert gate.arrived.wait(timeout=20)  # accepted by Twilio, the answer not yet back
        [accepted] = twilio_server.accepted
        assert fresh(message.id).provider_sid is None
        resp = report(client, twilio_server, accepted["sid"], "delivered")
        assert resp.status_code == 200
    thread.join(timeout=20)

    assert outcome == ["sent"]
    done = fresh(message.id)
    assert (done.status, done.provider_sid) == ("delivered", accepted["sid"])


def test_callback_that_overtakes_the_worker_with_an_error_keeps_it(
    client, run_worker, twilio_server
):
    caller = create_caller(CALLER)
    message = outbox.queue_message(db.session(), caller, None, "assigned", "Hello.", "en")
    db.session.commit()

    def worker() -> None:
        try:
            outbox.send(message.id)
        finally:
            db.session.remove()

    with twilio_server.hold(after_accept=True) as gate:
        thread = threading.Thread(target=worker)
        thread.start()
        assert gate.arrived.wait(timeout=20)
        [accepted] = twilio_server.accepted
        report(client, twilio_server, accepted["sid"], "undelivered", error_code=30006)
    thread.join(timeout=20)

    done = fresh(message.id)
    assert (done.status, done.error_code, done.provider_sid) == (
        "undelivered",
        "30006",
        accepted["sid"],
    )
    assert db.session.get_one(Caller, done.caller_id).unreachable_at is not None


def test_callback_settles_a_send_whose_answer_was_lost(client, run_worker, twilio_server):
    """Twilio took the message but its answer never came back: the callback tells us."""
    twilio_server.drop_next(1, after_accept=True)
    caller = create_caller(CALLER)
    message = outbox.queue_message(db.session(), caller, None, "assigned", "Hello.", "en")
    db.session.commit()
    outbox.dispatch([message])
    run_worker()
    assert (fresh(message.id).status, fresh(message.id).error_code) == ("sending", "no-answer")

    [accepted] = twilio_server.accepted
    report(client, twilio_server, accepted["sid"], "delivered")

    done = fresh(message.id)
    assert (done.status, done.error_code, done.provider_sid) == ("delivered", None, accepted["sid"])
    assert twilio_server.requests == 1
