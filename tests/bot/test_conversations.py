"""Inbound turns: order, language, the engine down or silent, odd bodies, the rate limit,
and the survey invitation — through the signed webhook and a real RQ worker, with an
engine stand-in on a loopback port (tests/fake_engine.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from rq.job import Job
from sqlalchemy import select

from bot import conversations, db, ratelimit, runtime
from bot.models import Caller, Conversation, Message, Rating
from tests.factories import create_call, create_caller, post_inbound_sms

pytestmark = pytest.mark.usefixtures("fake_engine")  # every test talks to the stand-in


def outbound(kind: str | None = None) -> list[Message]:
    query = select(Message).filter_by(direction="outbound").order_by(Message.id)
    if kind:
        query = query.filter_by(kind=kind)
    return list(db.session.scalars(query).all())


def inbound() -> list[Message]:
    query = select(Message).filter_by(direction="inbound").order_by(Message.id)
    return list(db.session.scalars(query).all())


@pytest.fixture
def caller(app) -> Caller:
    caller = create_caller()
    create_call(caller, state="assigned", unit_id="2A31")
    return caller


def test_two_quick_texts_are_answered_in_order_by_two_workers(client, caller, fake_engine):
    fake_engine.delay["first"] = 0.3  # the first turn is slow: the second must still wait
    post_inbound_sms(client, "first")
    post_inbound_sms(client, "second")

    def worker() -> None:
        try:
            conversations.handle_turns(caller.id)
        finally:
            db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert fake_engine.messages == ["first", "second"]
    assert fake_engine.max_in_flight == 1  # the caller's lock kept the turns apart
    assert [m.body for m in outbound()] == ["reply to: first", "reply to: second"]
    assert [m.status for m in inbound()] == ["handled", "handled"]


def test_engine_down_turn_waits_and_is_answered_when_it_returns(
    client, caller, fake_engine, run_worker
):
    fake_engine.down = True
    post_inbound_sms(client, "any update?")
    run_worker()
    assert inbound()[0].status == "received" and outbound() == []

    fake_engine.down = False
    queue = runtime.current().queue(runtime.TURNS)
    [job_id] = queue.scheduled_job_registry.get_job_ids()
    queue.enqueue_job(Job.fetch(job_id, connection=runtime.current().redis))
    run_worker()
    [reply] = outbound()
    assert reply.body == "reply to: any update?" and reply.status == "delivered"
    assert inbound()[0].status == "handled"


def test_engine_answering_nothing_gets_a_clarifying_reply(client, caller, fake_engine, run_worker):
    fake_engine.respond = lambda body: []
    post_inbound_sms(client, "hmm")
    run_worker()
    [reply] = outbound()
    assert "didn't understand" in reply.body and reply.kind == "reply"


def test_metadata_carries_the_call_the_message_and_the_language(
    client, caller, fake_engine, run_worker
):
    post_inbound_sms(client, "hola, ya viene alguien?")
    run_worker()
    [request] = fake_engine.requests
    message = inbound()[0]
    assert request["metadata"] == {
        "message_id": message.id,
        "call_id": "MPD-26-004512",
        "language": "es",
    }
    conv = db.session.scalars(select(Conversation)).one()
    assert request["sender"] == conv.sender_id  # opaque: no phone number reaches the engine
    assert "+1541" not in request["sender"]


def test_a_caller_who_switches_language_is_answered_in_the_new_one(client, caller, run_worker):
    post_inbound_sms(client, "hola, ya viene alguien?")
    post_inbound_sms(client, "ok")  # no signal: stays in Spanish
    post_inbound_sms(client, "sorry, can you text me in english? is the officer coming")
    run_worker()
    assert [m.language for m in outbound()] == ["es", "es", "en"]
    assert [m.language for m in inbound()] == ["es", "es", "en"]
    db.session.expire_all()
    assert db.session.get(Caller, caller.id).language == "en"


@pytest.mark.parametrize(
    "body",
    ["👍🙏", "مرحبا، هل سيأتي أحد؟", "שלום, מישהו מגיע?", "x" * 1600, "🚓" * 800],
)
def test_any_unicode_body_reaches_the_engine_and_is_answered(
    client, caller, fake_engine, run_worker, body
):
    resp = post_inbound_sms(client, body)
    assert resp.status_code == 200
    run_worker()
    assert fake_engine.messages == [body]
    [reply] = outbound()
    assert reply.language == "en"  # no English/Spanish signal: the caller's language stays


def test_a_body_over_1600_characters_is_kept_to_1600(client, caller, fake_engine, run_worker):
    post_inbound_sms(client, "a" * 2000)
    run_worker()
    assert len(inbound()[0].body) == 1600 and fake_engine.messages == ["a" * 1600]


def test_empty_body_with_media_is_answered_without_the_engine(client, caller, fake_engine):
    post_inbound_sms(client, "", NumMedia="1", MediaUrl0="http://127.0.0.1:9/photo.jpg")
    conversations.handle_turns(caller.id)
    [reply] = outbound()
    assert "can't open photos" in reply.body
    assert fake_engine.requests == []
    assert inbound()[0].media_count == 1


def test_empty_body_without_media_gets_a_clarifying_reply(client, caller, fake_engine):
    post_inbound_sms(client, "   ")
    conversations.handle_turns(caller.id)
    [reply] = outbound()
    assert "didn't understand" in reply.body and fake_engine.requests == []


@pytest.fixture
def media_server() -> Iterator[dict[str, Any]]:
    """A server holding the "photo"; it counts how often anyone fetches it."""
    hits = {"count": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits["count"] += 1
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_port}/media/ME1", "hits": hits}
    server.shutdown()
    server.server_close()


def test_mms_media_is_noted_but_never_fetched(
    client, caller, fake_engine, run_worker, media_server
):
    post_inbound_sms(
        client,
        "this is the guy",
        NumMedia="2",
        MediaUrl0=media_server["url"],
        MediaUrl1=media_server["url"],
        MediaContentType0="image/jpeg",
    )
    run_worker()
    assert inbound()[0].media_count == 2
    assert media_server["hits"]["count"] == 0
    bodies = [m.body for m in outbound()]
    assert bodies[0] == "reply to: this is the guy"
    assert "can't open photos" in bodies[1]


def test_webhook_answers_without_waiting_for_a_slow_engine(client, caller, fake_engine):
    fake_engine.delay["are you there?"] = 30
    resp = post_inbound_sms(client, "are you there?")
    assert resp.status_code == 200
    assert fake_engine.requests == []  # the webhook never called the engine
    assert len(runtime.current().queue(runtime.TURNS)) == 1


def test_a_flood_from_one_number_is_recorded_but_answered_only_once_more(
    client, caller, fake_engine, run_worker
):
    other = create_caller(phone="+15415550199")
    create_call(other, cad_id="MPD-26-000200")
    limit = ratelimit.INBOUND_PER_MINUTE
    for i in range(limit + 4):
        post_inbound_sms(client, f"spam {i}")
    post_inbound_sms(client, "is anyone coming?", from_="+15415550199")
    run_worker()

    statuses = [m.status for m in inbound() if m.caller_id == caller.id]
    assert statuses == ["handled"] * limit + ["throttled"] * 4
    assert len(fake_engine.messages) == limit + 1  # the flood's extra texts never ran a turn
    flood_replies = [m.body for m in outbound() if m.caller_id == caller.id]
    assert len(flood_replies) == limit + 1
    assert sum("many messages" in body for body in flood_replies) == 1
    [other_reply] = [m for m in outbound() if m.caller_id == other.id]
    assert other_reply.body == "reply to: is anyone coming?"


def test_stop_is_honoured_even_during_a_flood(client, caller):
    for i in range(ratelimit.INBOUND_PER_MINUTE + 2):
        post_inbound_sms(client, f"spam {i}")
    post_inbound_sms(client, "STOP")
    db.session.expire_all()
    assert db.session.get(Caller, caller.id).opted_out


def test_an_opted_out_caller_is_not_answered(client, caller, fake_engine, run_worker):
    post_inbound_sms(client, "stop")
    post_inbound_sms(client, "why did you stop?")
    run_worker()
    assert fake_engine.requests == []
    assert [m.kind for m in outbound()] == ["compliance"]
    assert [m.status for m in inbound()] == ["handled", "handled"]


# --- the survey invitation ----------------------------------------------------------------


@pytest.fixture
def closed_call(app):
    caller = create_caller(language="es")
    return create_call(caller, cad_id="MPD-26-000300", state="closed", unit_id="2A31")


def test_start_survey_asks_the_first_question_through_the_engine(
    closed_call, fake_engine, run_worker
):
    fake_engine.respond = lambda body: ["¿Cómo lo atendió la persona que contestó su llamada?"]
    assert conversations.start_survey(closed_call.id) == "sent"
    run_worker()
    [request] = fake_engine.requests
    assert request["message"] == "/start_survey"
    assert request["metadata"]["call_id"] == "MPD-26-000300"
    assert request["metadata"]["language"] == "es"
    [invitation] = outbound()
    assert invitation.kind == "survey" and invitation.language == "es"
    assert invitation.status == "delivered"
    conv = db.session.scalars(select(Conversation)).one()
    assert conv.call_id == closed_call.id and request["sender"] == conv.sender_id


def test_start_survey_by_cad_id(closed_call, fake_engine):
    assert conversations.start_survey("MPD-26-000300") == "sent"


def test_no_survey_for_an_opted_out_caller(closed_call, fake_engine):
    closed_call.caller.opted_out_at = closed_call.created_at
    db.session.commit()
    assert conversations.start_survey(closed_call.id) == "opted-out"
    assert fake_engine.requests == []


def test_no_survey_for_a_suppressed_call(closed_call, fake_engine):
    closed_call.suppressed = True
    db.session.commit()
    assert conversations.start_survey(closed_call.id) == "suppressed"


def test_no_survey_for_a_call_already_rated(closed_call, fake_engine):
    db.session.add(Rating(call_id=closed_call.id, call_taker=5))
    db.session.commit()
    assert conversations.start_survey(closed_call.id) == "already-rated"
    assert fake_engine.requests == [] and outbound() == []


def test_no_survey_about_an_old_call_once_the_caller_has_a_newer_one(closed_call, fake_engine):
    create_call(closed_call.caller, cad_id="MPD-26-000301")
    assert conversations.start_survey(closed_call.id) == "superseded"


def test_survey_waits_while_the_engine_is_down(closed_call, fake_engine):
    fake_engine.down = True
    assert conversations.start_survey(closed_call.id) == "retrying"
    scheduled = runtime.current().queue(runtime.DEFAULT).scheduled_job_registry
    assert len(scheduled.get_job_ids()) == 1
    assert outbound() == []
