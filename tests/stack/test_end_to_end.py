"""A real text through web → worker → engine → actions → reply, in both languages."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot import db
from bot.models import Message
from tests.factories import create_call, create_caller, post_inbound_sms

pytestmark = pytest.mark.engine


def replies() -> list[Message]:
    return list(
        db.session.scalars(
            select(Message).filter_by(direction="outbound").order_by(Message.id)
        ).all()
    )


def test_spanish_status_question_gets_spanish_answer_from_call_state(live_client, run_live_worker):
    caller = create_caller(language="en")
    create_call(caller, cad_id="MPD-26-000777", state="assigned", unit_id="2A31")

    resp = post_inbound_sms(live_client, "hola, ya viene alguien?")
    assert resp.status_code == 200
    run_live_worker()

    inbound = db.session.scalars(select(Message).filter_by(direction="inbound")).one()
    assert inbound.status == "handled"
    assert inbound.intent == "ask_status"
    assert inbound.language == "es"
    [reply] = replies()
    assert reply.language == "es"
    assert "MPD-26-000777" in reply.body
    assert "asignado" in reply.body  # the call's live state, in Spanish
    assert reply.status == "delivered"


def test_english_status_question_gets_english_answer(live_client, run_live_worker):
    caller = create_caller(language="es")
    create_call(caller, cad_id="MPD-26-000778", state="received")

    post_inbound_sms(live_client, "hi any update?")
    run_live_worker()

    [reply] = replies()
    assert reply.language == "en"
    assert "MPD-26-000778" in reply.body
    assert "queue" in reply.body.lower() or "no officer" in reply.body.lower()
