"""Every path of the two-way conversation, end to end in both languages: a signed Twilio
webhook, a real worker, the REAL trained engine, and its calls back to `/rasa/actions`."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from bot import conversations, db
from bot.models import Call, Caller, Flag, Message, Rating
from tests.factories import create_call, create_caller, drain_queues, post_inbound_sms

pytestmark = pytest.mark.engine

PHONE = "+15415550123"


class Phone:
    """The caller's phone: texts in through the webhook, reads what came back."""

    def __init__(self, client: Any, number: str = PHONE) -> None:
        self.client = client
        self.number = number
        self.twiml = b""

    def _last_id(self) -> int:
        return db.session.scalar(select(func.max(Message.id))) or 0

    def text(self, body: str, **extra: str) -> list[str]:
        """Sends `body`; returns every text the caller got back for it, in order."""
        before = self._last_id()
        resp = post_inbound_sms(self.client, body, from_=self.number, **extra)
        assert resp.status_code == 200
        self.twiml = resp.data
        drain_queues()
        return self.received_since(before)

    def received_since(self, message_id: int) -> list[str]:
        rows = db.session.scalars(
            select(Message)
            .filter(Message.id > message_id, Message.direction == "outbound")
            .order_by(Message.id)
        ).all()
        return [m.body for m in rows if m.address == self.number]


@pytest.fixture
def phone(live_client: Any) -> Phone:
    return Phone(live_client)


def flags(kind: str) -> list[Flag]:
    return list(db.session.scalars(select(Flag).filter_by(kind=kind)).all())


def make_call(language: str, **kw: Any) -> Call:
    caller = create_caller(phone=PHONE, language=language)
    values = {"state": "assigned", "unit_id": "2A31", **kw}
    return create_call(caller, cad_id="MPD-26-004512", **values)


def last_inbound() -> Message:
    return db.session.scalars(
        select(Message).filter_by(direction="inbound").order_by(Message.id.desc()).limit(1)
    ).one()


# --- questions about the call -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "text", "words"),
    [
        ("en", "is someone still coming?", "on the way"),
        ("es", "¿ya viene la policía?", "en camino"),
    ],
)
def test_ask_status_from_the_live_call(phone, language, text, words):
    make_call(language, state="enroute")
    [reply] = phone.text(text)
    assert words in reply and "MPD-26-004512" in reply
    assert last_inbound().intent == "ask_status"


@pytest.mark.parametrize(
    ("language", "text"),
    [("en", "what's my report number?"), ("es", "¿cuál es mi número de caso?")],
)
def test_ask_case_number(phone, language, text):
    make_call(language, state="closed", disposition="report_taken", case_number="26-5678")
    [reply] = phone.text(text)
    assert "26-5678" in reply
    assert last_inbound().intent == "ask_case_number"


@pytest.mark.parametrize(
    ("language", "text", "words"),
    [
        ("en", "any news on my case?", "detective"),
        ("es", "¿qué pasó con mi denuncia?", "detective"),
    ],
)
def test_ask_case_status(phone, language, text, words):
    make_call(
        language,
        state="closed",
        disposition="report_taken",
        case_number="26-5678",
        case_status="assigned_detective",
    )
    [reply] = phone.text(text)
    assert words in reply and "26-5678" in reply


# --- what the caller tells us -------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "text", "words"),
    [("en", "he left in a white truck", "dispatch"), ("es", "tiene un perro grande", "despacho")],
)
def test_add_info_is_flagged_and_acknowledged(phone, language, text, words):
    make_call(language)
    [reply] = phone.text(text)
    assert words in reply
    [flag] = flags("add_info")
    assert flag.text == text


@pytest.mark.parametrize(
    ("language", "text", "words"),
    [
        ("en", "he left, we don't need anyone anymore", "told dispatch"),
        ("es", "ya no necesito que vengan", "Avisé a despacho"),
    ],
)
def test_cancel_request_is_relayed_not_confirmed(phone, language, text, words):
    make_call(language)
    [reply] = phone.text(text)
    assert words in reply and "cancelled" not in reply and "cancelada" not in reply
    assert len(flags("cancel_request")) == 1


@pytest.mark.parametrize(
    ("language", "text", "words"),
    [
        ("en", "he's back with a gun", "call 911 now"),
        ("es", "me está pegando, ayuda", "llame al 911 ahora"),
    ],
)
def test_emergency_answered_in_the_webhook_once_and_flagged(phone, language, text, words):
    make_call(language)
    replies = phone.text(text)
    assert words.encode() in phone.twiml  # answered right in the webhook's TwiML
    assert sum("911" in r for r in replies) == 1  # the engine turn sent no second one
    assert len(flags("emergency")) == 1
    assert last_inbound().status == "handled"


@pytest.mark.parametrize(
    ("language", "text", "words"),
    [("en", "can an officer call me?", "call you back"), ("es", "¿me pueden llamar?", "lo llamen")],
)
def test_request_callback_is_flagged(phone, language, text, words):
    make_call(language)
    [reply] = phone.text(text)
    assert words in reply
    assert len(flags("request_callback")) == 1


@pytest.mark.parametrize(
    ("language", "text", "words", "complaint"),
    [
        ("en", "the officer was very kind", "Thank you for your feedback", False),
        ("es", "el oficial fue muy grosero conmigo", "supervisor", True),
    ],
)
def test_feedback_outside_the_survey(phone, language, text, words, complaint):
    make_call(language, state="closed", disposition="advised")
    [reply] = phone.text(text)
    assert words in reply
    rating = db.session.scalars(select(Rating)).one()
    assert rating.comment == text
    assert len(flags("complaint")) == int(complaint)


# --- language, opting out, honesty, fallbacks ---------------------------------------------


@pytest.mark.parametrize(
    ("language", "text", "after", "words"),
    [("es", "english please", "en", "in English"), ("en", "en español por favor", "es", "español")],
)
def test_change_language_switches_and_confirms_in_the_new_one(phone, language, text, after, words):
    make_call(language)
    [reply] = phone.text(text)
    assert words in reply
    db.session.expire_all()
    assert db.session.scalars(select(Caller)).one().language == after
    [status] = phone.text("ok, is the officer coming?" if after == "en" else "ya viene?")
    assert ("assigned" in status) if after == "en" else ("asignado" in status)


@pytest.mark.parametrize(
    ("language", "text", "words"),
    [
        ("en", "please stop texting me", "unsubscribed"),
        ("es", "ya no me manden mensajes", "canceló su suscripción"),
    ],
)
def test_opt_out_in_words_is_stop(phone, language, text, words):
    make_call(language)
    [confirmation] = phone.text(text)
    assert words in confirmation
    db.session.expire_all()
    assert db.session.scalars(select(Caller)).one().opted_out
    assert phone.text("hello?") == []  # nothing more


@pytest.mark.parametrize(
    ("language", "text", "words"),
    [("en", "is this a real person?", "automated"), ("es", "¿eres un robot?", "automático")],
)
def test_bot_challenge_is_honest(phone, language, text, words):
    make_call(language)
    [reply] = phone.text(text)
    assert words in reply and "541-770-4783" in reply


@pytest.mark.parametrize(
    ("language", "text"),
    [("en", "how do I pay a parking ticket?"), ("es", "¿dónde pago una multa?")],
)
def test_out_of_scope_points_to_the_non_emergency_number(phone, language, text):
    make_call(language)
    [reply] = phone.text(text)
    assert "541-770-4783" in reply


@pytest.mark.parametrize(
    ("language", "text", "words"),
    [
        ("en", "purple elephant dishwasher", "didn't understand"),
        ("es", "xzq wlk prrt", "no entendí"),
    ],
)
def test_low_confidence_gets_a_clarifying_reply(phone, language, text, words):
    make_call(language)
    [reply] = phone.text(text)
    assert words in reply


@pytest.mark.parametrize(
    ("language", "greeting", "words"), [("en", "hi", "ask me"), ("es", "hola", "preguntarme")]
)
def test_greeting(phone, language, greeting, words):
    make_call(language)
    [reply] = phone.text(greeting)
    assert words in reply


def test_no_call_on_file_gets_the_helpful_reply_only(phone, live_app):
    [reply] = phone.text("hello? anyone?")
    assert "not monitored" in reply and "911" in reply


@pytest.mark.parametrize(("word", "words"), [("STOP", "unsubscribed"), ("AYUDA", "BAJA")])
def test_compliance_keywords_before_the_engine(phone, word, words):
    make_call("en")
    [reply] = phone.text(word)
    assert words in reply


# --- the survey ---------------------------------------------------------------------------


def start_survey(phone: Phone, call: Call) -> list[str]:
    before = phone._last_id()
    assert conversations.start_survey(call.id) == "sent"
    drain_queues()
    return phone.received_since(before)


def stored_rating() -> Rating:
    db.session.expire_all()
    return db.session.scalars(select(Rating)).one()


def test_survey_in_english(phone):
    call = make_call("en", state="closed", disposition="advised")
    [invitation] = start_survey(phone, call)
    assert "call taker" in invitation
    [officer_question] = phone.text("5")
    assert "officer" in officer_question
    [comment_question] = phone.text("4 stars")
    assert "comment" in comment_question
    [thanks] = phone.text("quick and kind, thank you")
    assert "anonymous" in thanks
    rating = stored_rating()
    assert (rating.call_taker, rating.officer) == (5, 4)
    assert rating.comment == "quick and kind, thank you"


def test_survey_in_spanish_with_words_and_skips(phone):
    call = make_call("es", state="closed", disposition="advised")
    [invitation] = start_survey(phone, call)
    assert "contestó su llamada" in invitation
    [officer_question] = phone.text("cinco")
    assert "oficial" in officer_question
    [comment_question] = phone.text("paso")
    assert "comentario" in comment_question
    [thanks] = phone.text("no")
    assert "anónimas" in thanks
    rating = stored_rating()
    assert (rating.call_taker, rating.officer, rating.comment) == (5, None, None)


def test_survey_asks_again_once_then_moves_on(phone):
    call = make_call("en", state="closed", disposition="advised")
    start_survey(phone, call)
    [again] = phone.text("banana")
    assert "didn't get that" in again
    [officer_question] = phone.text("banana split")
    assert "officer" in officer_question
    phone.text("⭐⭐⭐")
    phone.text("skip")
    rating = stored_rating()
    assert (rating.call_taker, rating.officer) == (None, 3)


def test_a_question_in_the_middle_of_the_survey_is_answered_and_the_survey_goes_on(phone):
    call = make_call("en", state="closed", disposition="report_taken", case_number="26-77")
    start_survey(phone, call)
    replies = phone.text("what's my case number?")
    assert "26-77" in replies[0]
    assert "call taker" in replies[-1] or "1 to 5" in replies[-1]
    phone.text("4")
    phone.text("5")
    phone.text("no")
    rating = stored_rating()
    assert (rating.call_taker, rating.officer) == (4, 5)


def test_a_caller_who_texts_a_rating_unasked_starts_the_form(phone):
    make_call("en", state="closed", disposition="advised")
    [officer_question] = phone.text("5 stars")
    assert "officer" in officer_question


# --- robustness ---------------------------------------------------------------------------


def test_two_quick_texts_are_answered_in_order_by_two_workers(phone, live_client):
    import threading

    make_call("en", state="enroute")
    before = phone._last_id()
    post_inbound_sms(live_client, "hi", from_=PHONE)
    post_inbound_sms(live_client, "is anyone still coming?", from_=PHONE)
    caller_id = db.session.scalars(select(Caller.id)).one()

    def worker() -> None:
        try:
            conversations.handle_turns(caller_id)
        finally:
            db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    drain_queues()
    greeting, status = phone.received_since(before)
    assert "ask me" in greeting and "on the way" in status


def test_a_spanish_caller_who_switches_to_english_mid_conversation(phone):
    make_call("es", state="enroute")
    [first] = phone.text("hola, ya viene alguien?")
    assert "en camino" in first
    [second] = phone.text("hi, is someone still coming?")
    assert "on the way" in second
    [third] = phone.text("5")  # no language signal: stays English
    assert "officer" in third or "1 to 5" in third or "didn't understand" in third
