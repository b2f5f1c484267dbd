"""Compliance keywords (CONTRACTS.md §6): whole-message, case- and accent-insensitive,
answered before any model in the caller's language, STOP honoured at once everywhere."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot import db, outbox, runtime
from bot.compliance import Keyword, keyword
from bot.models import Call, Caller, Message
from tests.factories import create_call, create_caller, post_inbound_sms


@pytest.mark.parametrize(
    "text",
    ["STOP", "stop", " Stop. ", "StopAll", "UNSUBSCRIBE", "cancel", "END", "quit", "revoke",
     "OPTOUT", "opt-out", "ALTO", "alto!", "Parar", "BAJA", "cancelar", "Cancelár", "ÁLTO"],
)  # fmt: skip
def test_opt_out_keywords(text):
    assert keyword(text, opted_out=False) is Keyword.STOP


@pytest.mark.parametrize("text", ["START", "start", "Unstop", "ALTA", "alta."])
def test_opt_in_keywords(text):
    assert keyword(text, opted_out=True) is Keyword.START


def test_yes_opts_in_only_while_opted_out():
    assert keyword("YES", opted_out=True) is Keyword.START
    assert keyword("yes", opted_out=False) is None


@pytest.mark.parametrize("text", ["HELP", "help?", "Info", "AYUDA", "ayuda!"])
def test_help_keywords(text):
    assert keyword(text, opted_out=False) is Keyword.HELP


@pytest.mark.parametrize(
    "text",
    ["stop texting me", "please stop", "ayuda me está pegando", "I need help", "cancel my call",
     "stopped", "helpful", "alto ahi"],
)  # fmt: skip
def test_keywords_count_only_as_the_whole_message(text):
    assert keyword(text, opted_out=False) is None


def messages(direction: str = "outbound") -> list[Message]:
    query = select(Message).filter_by(direction=direction).order_by(Message.id)
    return list(db.session.scalars(query).all())


@pytest.fixture
def caller(app) -> Caller:
    caller = create_caller(email="caller@example.org")
    create_call(caller, state="assigned")
    return caller


def test_stop_opts_out_at_once_suppresses_every_queued_message_and_confirms_once(
    client, caller, run_worker
):
    call = caller.calls[0]
    sms = outbox.queue_message(db.session, caller, call, "assigned", "An officer...", "en")
    email = outbox.queue_message(db.session, caller, call, "delay", "Sorry...", "en", "email")
    db.session.commit()

    resp = post_inbound_sms(client, "STOP")
    assert resp.status_code == 200
    db.session.expire_all()
    assert db.session.get(Caller, caller.id).opted_out  # at once, before any worker runs
    assert db.session.get(Message, sms.id).status == "suppressed"
    assert db.session.get(Message, email.id).status == "suppressed"
    assert len(runtime.current().queue(runtime.TURNS)) == 0  # no engine turn for a keyword

    post_inbound_sms(client, "stop")  # a second STOP: no second confirmation
    run_worker()
    [confirmation] = [m for m in messages() if m.kind == "compliance"]
    assert confirmation.status == "delivered" and confirmation.channel == "sms"
    assert "unsubscribed" in confirmation.body and "START" in confirmation.body
    assert "Medford Police" in confirmation.body

    # Nothing more reaches the caller on any channel.
    later = outbox.queue_message(db.session, caller, call, "closed", "Closed.", "en")
    db.session.commit()
    assert later.status == "suppressed"


def test_stop_is_answered_in_the_callers_language(client, run_worker):
    caller = create_caller(language="es")
    create_call(caller)
    post_inbound_sms(client, "Stop")
    run_worker()
    [confirmation] = messages()
    assert confirmation.language == "es" and "canceló su suscripción" in confirmation.body


def test_spanish_keyword_gets_a_spanish_answer(client, caller, run_worker):
    post_inbound_sms(client, "BAJA")
    run_worker()
    [confirmation] = messages()
    assert confirmation.language == "es" and "ALTA" in confirmation.body


@pytest.mark.parametrize(("word", "language"), [("START", "en"), ("ALTA", "es"), ("yes", "en")])
def test_start_restores_texts_with_ctia_content(client, caller, run_worker, word, language):
    post_inbound_sms(client, "STOP")
    post_inbound_sms(client, word)
    run_worker()
    db.session.expire_all()
    assert not db.session.get(Caller, caller.id).opted_out
    confirmation = messages()[-1]
    assert confirmation.language == language
    rates = "Msg&data rates may apply" if language == "en" else "tarifas de mensajes y datos"
    assert rates in confirmation.body
    call = db.session.scalars(select(Call)).one()
    later = outbox.queue_message(db.session, caller, call, "closed", "Closed.", "en")
    db.session.commit()
    assert later.status == "queued"


@pytest.mark.parametrize(
    ("word", "language", "stop_word"), [("HELP", "en", "STOP"), ("info", "en", "STOP"),
                                        ("AYUDA", "es", "BAJA")]
)  # fmt: skip
def test_help_answers_with_program_contact_rates_and_how_to_stop(
    client, caller, run_worker, word, language, stop_word
):
    post_inbound_sms(client, word)
    run_worker()
    [answer] = messages()
    assert answer.kind == "compliance" and answer.language == language
    assert "Medford Police" in answer.body and "541-770-4783" in answer.body
    assert stop_word in answer.body and "911" in answer.body
    assert ("Msg&data rates may apply" in answer.body) == (language == "en")


def test_help_is_answered_even_when_opted_out(client, caller, run_worker):
    post_inbound_sms(client, "STOP")
    post_inbound_sms(client, "HELP")
    run_worker()
    assert [m.body.split(".")[0] for m in messages()][-1].startswith("Medford Police call updates")
    assert messages()[-1].status == "delivered"


def test_yes_while_subscribed_is_an_ordinary_turn(client, caller):
    post_inbound_sms(client, "YES")
    assert len(runtime.current().queue(runtime.TURNS)) == 1
    assert messages() == []


def test_ayuda_with_more_words_is_not_help_but_an_emergency(client, caller):
    resp = post_inbound_sms(client, "ayuda me está pegando")
    assert b"911" in resp.data  # the emergency fast path, not the HELP text
    assert [m.kind for m in messages()] == ["reply"]


def test_stop_is_honoured_while_an_earlier_turn_waits_for_the_engine(client, caller, run_worker):
    post_inbound_sms(client, "any news?")  # the engine (RASA_URL) is down: this turn waits
    post_inbound_sms(client, "stop")
    run_worker()
    db.session.expire_all()
    assert db.session.get(Caller, caller.id).opted_out
    assert [m.kind for m in messages()] == ["compliance"]
