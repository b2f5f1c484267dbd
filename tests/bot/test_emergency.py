"""The emergency fast path: "call 911" in the webhook's own answer, flagged for dispatch,
never twice for one message, in both languages."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot import db
from bot.emergency import signals_danger
from bot.models import Flag, Message
from tests.factories import create_call, create_caller, post_inbound_sms

pytestmark = pytest.mark.usefixtures("fake_engine")  # every test talks to the stand-in


@pytest.mark.parametrize(
    "text",
    [
        "he's back with a gun",
        "HE IS BACK",
        "someone is trying to get in",
        "he's hitting me",
        "help me please",
        "there's a man with a knife outside my door",
        "I think he's going to kill her",
        "my neighbor is not breathing",
        "ayuda me está pegando",
        "me esta pegando, ayuda",
        "ya volvió y trae una pistola",
        "alguien entró a mi casa",
        "me quiere matar",
        "ayúdenme por favor",
        "hay un incendio",
        "estoy en peligro",
    ],
)
def test_danger_is_recognised_in_both_languages(text):
    assert signals_danger(text)


@pytest.mark.parametrize(
    "text",
    [
        "AYUDA",  # alone it is the HELP keyword
        "is anyone still coming?",
        "he left in a white truck",
        "thanks for your help",
        "the officer helped me a lot",
        "no danger anymore, he left",
        "ya no hay peligro, se fue",
        "ya no necesito ayuda",
        "¿cuál es mi número de caso?",
        "5",
        "",
    ],
)
def test_ordinary_texts_are_not_emergencies(text):
    assert not signals_danger(text)


@pytest.fixture
def caller(fake_engine, app):
    caller = create_caller()
    create_call(caller, state="assigned")
    return caller


def outbound() -> list[Message]:
    return list(
        db.session.scalars(select(Message).filter_by(direction="outbound").order_by(Message.id))
    )


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("he's back and he has a gun", b"If you are in danger call 911 now"),
        ("ayuda me está pegando", "Si está en peligro, llame al 911 ahora".encode()),
    ],
)
def test_webhook_answers_911_at_once_and_flags_dispatch(client, caller, text, words):
    resp = post_inbound_sms(client, text)
    assert resp.status_code == 200 and resp.mimetype == "text/xml"
    assert b"<Message>" in resp.data and words in resp.data
    [reply] = outbound()
    assert reply.kind == "reply" and reply.status == "sent" and words.decode() in reply.body
    [flag] = db.session.scalars(select(Flag)).all()
    assert flag.kind == "emergency" and flag.text == text
    assert flag.call_id == caller.calls[0].id


def test_the_911_answer_does_not_wait_for_the_engine(client, caller, fake_engine):
    fake_engine.down = True
    resp = post_inbound_sms(client, "he is back with a knife")
    assert b"911" in resp.data
    assert fake_engine.requests == []


def test_the_engine_turn_sends_no_second_911_text(client, caller, fake_engine, run_worker):
    """The engine runs `action_emergency` for the same message: it must stay silent."""
    app_client = client

    def engine_runs_action_emergency(body: dict[str, Any]) -> list[str]:
        latest = {
            "intent": {"name": "emergency", "confidence": 0.98},
            "entities": [],
            "text": body["message"],
            "metadata": body["metadata"],
        }
        tracker = {"sender_id": body["sender"], "slots": {}, "latest_message": latest, "events": []}
        resp = app_client.post(
            "/rasa/actions?token=test-rasa-token",
            json={
                "next_action": "action_emergency",
                "sender_id": body["sender"],
                "tracker": tracker,
            },
        )
        return [r["text"] for r in resp.get_json()["responses"]]

    fake_engine.respond = engine_runs_action_emergency
    post_inbound_sms(client, "he is back with a gun")
    run_worker()
    assert fake_engine.messages == ["he is back with a gun"]  # the turn did run
    bodies = [m.body for m in outbound()]
    assert len(bodies) == 1 and "911" in bodies[0]  # only the webhook's answer
    assert len(db.session.scalars(select(Flag)).all()) == 1
    inbound = db.session.scalars(select(Message).filter_by(direction="inbound")).one()
    assert inbound.status == "handled" and inbound.intent == "emergency"


def test_one_911_text_per_burst_but_every_message_flagged(client, caller):
    first = post_inbound_sms(client, "he's back")
    second = post_inbound_sms(client, "he has a knife")
    assert b"911" in first.data and b"<Message>" not in second.data
    assert len(outbound()) == 1
    assert len(db.session.scalars(select(Flag)).all()) == 2


def test_an_opted_out_caller_in_danger_is_still_told_to_call_911(client, caller):
    post_inbound_sms(client, "STOP")
    resp = post_inbound_sms(client, "help me he has a gun")
    assert b"911" in resp.data


def test_a_number_without_a_call_in_danger_is_told_to_call_911(client, fake_engine, app):
    resp = post_inbound_sms(client, "someone broke in", from_="+15415550177")
    assert b"call 911 now" in resp.data
