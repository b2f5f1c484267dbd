"""The inbound SMS webhook: signatures, de-duplication, answering without waiting."""

from __future__ import annotations

from sqlalchemy import func, select

from bot import db, runtime
from bot.models import Message
from tests.factories import create_call, create_caller, post_inbound_sms, twilio_signature


def inbound_count() -> int:
    return (
        db.session.scalar(select(func.count()).select_from(Message).filter_by(direction="inbound"))
        or 0
    )


def test_forged_signature_is_rejected(client):
    form = {"MessageSid": "SMforged", "From": "+15415550123", "Body": "hi"}
    url = "http://localhost/webhooks/twilio/sms"
    resp = client.post(
        url, data=form, headers={"X-Twilio-Signature": twilio_signature(url, form, "wrong")}
    )
    assert resp.status_code == 403
    assert inbound_count() == 0


def test_missing_signature_is_rejected(client):
    resp = client.post("/webhooks/twilio/sms", data={"MessageSid": "SM1", "From": "+15415550123"})
    assert resp.status_code == 403


def test_no_auth_token_configured_answers_503(settings_env):
    from webhooks import create_app

    settings_env["TWILIO_AUTH_TOKEN"] = ""
    app = create_app(settings_env)
    resp = post_inbound_sms(app.test_client(), "hi")
    assert resp.status_code == 503


def test_valid_text_is_recorded_and_queued_with_empty_twiml(client):
    resp = post_inbound_sms(client, "is anyone coming?", sid="SMabc")
    assert resp.status_code == 200
    assert resp.mimetype == "text/xml"
    assert b"<Response></Response>" in resp.data
    assert inbound_count() == 1
    # The turn waits on the queue: the webhook never calls the engine itself.
    assert len(runtime.current().queue(runtime.TURNS)) == 1


def test_repeated_message_sid_is_processed_once(client):
    first = post_inbound_sms(client, "hello", sid="SMdup")
    second = post_inbound_sms(client, "hello", sid="SMdup")
    assert first.status_code == second.status_code == 200
    assert inbound_count() == 1
    assert len(runtime.current().queue(runtime.TURNS)) == 1


def test_text_from_number_without_call_gets_helpful_reply(client, run_worker):
    post_inbound_sms(client, "hello?", from_="+15415559999")
    run_worker()
    replies = db.session.scalars(select(Message).filter_by(direction="outbound")).all()
    assert len(replies) == 1
    assert "911" in replies[0].body and "541-770-4783" in replies[0].body
    assert replies[0].status == "delivered"  # console backend


def test_turn_waits_while_engine_is_down(client, run_worker):
    caller = create_caller()
    create_call(caller)
    post_inbound_sms(client, "any update?")
    run_worker()  # the engine (RASA_URL) is not listening
    message = db.session.scalars(select(Message).filter_by(direction="inbound")).one()
    assert message.status == "received"  # not lost, not answered: waiting for the engine
    scheduled = runtime.current().queue(runtime.TURNS).scheduled_job_registry
    assert len(scheduled.get_job_ids()) == 1


def test_a_text_signalling_danger_is_answered_in_valid_twiml(client):
    from xml.etree import ElementTree

    caller = create_caller()
    create_call(caller)
    resp = post_inbound_sms(client, "he's back <with> a gun & a knife")
    assert resp.status_code == 200 and resp.mimetype == "text/xml"
    [message] = ElementTree.fromstring(resp.data).findall("Message")
    assert "call 911 now" in (message.text or "")
    # The turn still runs (to record the intent), after the caller was told.
    assert len(runtime.current().queue(runtime.TURNS)) == 1


def test_media_count_is_recorded_from_num_media(client):
    post_inbound_sms(client, "", NumMedia="3", MediaUrl0="https://api.twilio.com/x/Media/ME1")
    message = db.session.scalars(select(Message).filter_by(direction="inbound")).one()
    assert message.media_count == 3 and message.body == ""
