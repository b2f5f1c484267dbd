"""Inbound texts: recorded once by the webhook, answered in order by a worker.

`record_inbound` runs inside the webhook. It writes the row (unique on Twilio's
MessageSid, so a retry is never processed twice) and then, all without any model:
- a compliance keyword (STOP, START, HELP, ...) is applied and answered at once;
- a text that signals danger gets "call 911" right in the webhook's answer (and a flag);
- a number over its rate limit is recorded (`throttled`) but not answered beyond one notice;
- anything else has its turn enqueued.

`handle_turns` runs on a worker under a per-caller lock and answers every unanswered text
of that caller oldest first, so two quick texts are answered in order whichever worker
picks which job. The language is decided, the text goes to the engine with the call as
metadata, and the replies go out through the outbox. If the engine is down the turn
waits and is retried; if it answers nothing, the caller gets a short clarifying reply.

Inbound statuses: `received` (waiting for its turn), `handled` (answered), `throttled`
(over the rate limit: kept, never answered).
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import compliance, db, emergency, outbox, ratelimit, runtime
from bot.config import Agency
from bot.engine import EngineUnavailable
from bot.models import Call, Caller, Conversation, Flag, Message, utcnow
from bot.phones import normalize
from bot.texts import agency_for, render_for
from nlu import language as lang

log = logging.getLogger(__name__)

TURN_LOCK_TIMEOUT = 120  # seconds a turn may hold its caller's lock
ENGINE_RETRY_SECONDS = 15
SURVEY_MAX_ATTEMPTS = 240  # an hour of retries while the engine is down; later is too late
MAX_BODY = 1600  # Twilio's limit for one (concatenated) text


@dataclass
class Inbound:
    """A recorded inbound text, and what the webhook must answer right away, if anything."""

    message: Message
    reply: str | None = None


def find_or_create_caller(s: Session, phone: str) -> Caller:
    caller = s.scalars(select(Caller).filter_by(phone=phone)).one_or_none()
    if caller is not None:
        return caller
    try:
        caller = Caller(phone=phone)
        s.add(caller)
        s.commit()
    except IntegrityError:  # a second text of a new number, recorded by another instance
        s.rollback()
        caller = s.scalars(select(Caller).filter_by(phone=phone)).one()
    return caller


def latest_call(s: Session, caller: Caller) -> Call | None:
    """The caller's most recent call that may be texted about."""
    return s.scalars(
        select(Call)
        .filter_by(caller_id=caller.id, suppressed=False)
        .order_by(Call.created_at.desc(), Call.id.desc())
        .limit(1)
    ).one_or_none()


def record_inbound(sid: str, from_number: str, body: str, media_count: int = 0) -> Inbound | None:
    """Records a text from Twilio and deals with it; None if this MessageSid was seen."""
    s = db.session()
    rt = runtime.current()
    phone = normalize(from_number)
    caller = find_or_create_caller(s, phone)
    message = Message(
        direction="inbound",
        channel="sms",
        body=body[:MAX_BODY],
        status="received",
        caller=caller,
        address=phone,
        provider_sid=sid,
        media_count=media_count,
    )
    s.add(message)
    try:
        s.commit()
    except IntegrityError:
        s.rollback()
        return None  # a Twilio retry, or another web instance got it first
    call = latest_call(s, caller)
    agency = agency_for(call)

    word = compliance.keyword(body, caller.opted_out)
    if word is not None:
        language = compliance.reply_language(body, caller)
        queued = compliance.answer(s, word, caller, call, agency, language)
        message.status, message.language, message.call = "handled", language, call
        s.commit()
        outbox.dispatch(queued)
        return Inbound(message)

    reply = None
    if emergency.signals_danger(body):
        reply = _emergency_fast_path(s, rt.redis, message, caller, call, agency)

    verdict = ratelimit.check_inbound(rt.redis, phone)
    if verdict is not ratelimit.Verdict.ALLOW:
        message.status, message.call = "throttled", call
        queued = []
        if verdict is ratelimit.Verdict.NOTICE and not caller.opted_out:
            text = render_for("rate_limited", caller.language, agency, call)
            queued.append(outbox.queue_message(s, caller, call, "reply", text, caller.language))
        s.commit()
        outbox.dispatch(queued)
        log.warning("caller %s is over the inbound rate limit (%s)", caller.id, verdict.value)
        return Inbound(message, reply)

    s.commit()
    runtime.enqueue(runtime.TURNS, handle_turns, caller.id)
    return Inbound(message, reply)


def _emergency_fast_path(
    s: Session, conn: Any, message: Message, caller: Caller, call: Call | None, agency: Agency
) -> str | None:
    """Flags the message for dispatch and returns the 911 text for the webhook to answer.

    Answered even to an opted-out number: someone in danger who writes to the police line
    gets told to call 911. One 911 text per burst of messages; every message is flagged.
    """
    language = lang.detect(message.body, current=caller.language)
    s.add(
        Flag(
            kind="emergency",
            text=message.body,
            call=call,
            caller_id=caller.id,
            message_id=message.id,
        )
    )
    if not ratelimit.first_emergency_reply(conn, caller.phone or str(caller.id)):
        return None
    text = render_for("emergency", language, agency, call)
    s.add(
        Message(
            direction="outbound",
            channel="sms",
            kind="reply",
            language=language,
            body=text,
            status="sent",  # it goes out in the webhook's TwiML answer
            caller=caller,
            call=call,
            address=caller.phone,
        )
    )
    return text


def _turn_lock(caller_id: int) -> AbstractContextManager[Any]:
    lock: AbstractContextManager[Any] = runtime.current().redis.lock(
        f"tenfour:turn-lock:{caller_id}", timeout=TURN_LOCK_TIMEOUT
    )
    return lock


def handle_turns(caller_id: int) -> int:
    """Worker job: answers the caller's unanswered texts in order; returns how many."""
    rt = runtime.current()
    with _turn_lock(caller_id):
        s = db.session()
        pending = s.scalars(
            select(Message)
            .filter_by(caller_id=caller_id, direction="inbound", status="received")
            .order_by(Message.id)
        ).all()
        done = 0
        for message in pending:
            try:
                _answer(s, message)
            except EngineUnavailable as exc:
                s.rollback()
                log.warning("engine unavailable, turn of caller %s waits: %s", caller_id, exc)
                rt.queue(runtime.TURNS).enqueue_in(
                    timedelta(seconds=ENGINE_RETRY_SECONDS), handle_turns, caller_id
                )
                break
            done += 1
        return done


def conversation_for(s: Session, caller: Caller, call: Call | None) -> Conversation:
    """The caller's conversation about `call` (a new call starts a new conversation)."""
    conv = s.scalars(
        select(Conversation)
        .filter_by(caller_id=caller.id, call_id=call.id if call else None)
        .order_by(Conversation.id.desc())
        .limit(1)
    ).one_or_none()
    if conv is None:
        conv = Conversation(caller=caller, call=call, language=caller.language)
        s.add(conv)
        s.flush()
    return conv


def _answer(s: Session, message: Message) -> None:
    rt = runtime.current()
    caller = message.caller
    assert caller is not None
    call = latest_call(s, caller)
    agency = agency_for(call)
    language = lang.detect(message.body, current=caller.language)
    if language != caller.language:  # detect() keeps the current one unless there is a signal
        caller.language = language
        caller.language_known = True
    message.language = language
    message.call = call
    replies: list[str] = []
    if caller.opted_out:
        pass  # nothing is answered to an opted-out number (START was handled on arrival)
    elif call is None:
        replies = [render_for("no_call_on_file", language, agency, call)]
    elif not message.body.strip():
        key = "media_not_viewed" if message.media_count else "clarify"
        replies = [render_for(key, language, agency, call)]
    else:
        conv = conversation_for(s, caller, call)
        conv.language = language
        message.conversation_id = conv.id
        s.commit()  # the action server reads the language and call from the database
        metadata = {"message_id": message.id, "call_id": call.cad_id, "language": language}
        replies = rt.engine.send(conv.sender_id, message.body, metadata) if rt.engine else []
        s.refresh(message)
        s.refresh(caller)
        language = caller.language  # an action may have switched it ("english please")
        if message.media_count:
            replies.append(render_for("media_not_viewed", language, agency, call))
        if not replies and not caller.opted_out and not emergency.already_answered(s, message):
            # The engine said nothing (an action failed, no rule matched): never silence.
            replies = [render_for("clarify", language, agency, call)]
    queued = [outbox.queue_message(s, caller, call, "reply", text, language) for text in replies]
    message.status = "handled"
    message.updated_at = utcnow()
    s.commit()
    outbox.dispatch(queued)


def start_survey(call_id: int | str, attempt: int = 1) -> str:
    """Worker job: the survey invitation for a closed call (the feedback form's first question).

    `call_id` is the call's row id or its CAD id. Nothing is sent when the call may no
    longer be texted, the caller opted out, already rated it, or has a newer call. The
    replies go out as kind "survey"; while the engine is down the job is retried.
    """
    s = db.session()
    call = (
        s.get(Call, call_id)
        if isinstance(call_id, int)
        else s.scalars(select(Call).filter_by(cad_id=call_id)).one_or_none()
    )
    if call is None or call.caller is None:
        return "no-call"
    caller = call.caller
    if call.suppressed:
        return "suppressed"
    if caller.opted_out:
        return "opted-out"
    if call.rating is not None and (
        call.rating.call_taker is not None or call.rating.officer is not None
    ):
        return "already-rated"
    newest = latest_call(s, caller)
    if newest is not None and newest.id != call.id:
        return "superseded"
    rt = runtime.current()
    with _turn_lock(caller.id):
        conv = conversation_for(s, caller, call)
        conv.language = caller.language
        s.commit()
        metadata = {"call_id": call.cad_id, "language": caller.language, "survey": True}
        try:
            replies = (
                rt.engine.trigger(conv.sender_id, "start_survey", metadata) if rt.engine else []
            )
        except EngineUnavailable as exc:
            s.rollback()
            if attempt >= SURVEY_MAX_ATTEMPTS:
                log.warning("survey of call %s abandoned: engine unavailable", call.id)
                return "abandoned"
            log.warning("engine unavailable, survey of call %s waits: %s", call.id, exc)
            rt.queue(runtime.DEFAULT).enqueue_in(
                timedelta(seconds=ENGINE_RETRY_SECONDS), start_survey, call.id, attempt + 1
            )
            return "retrying"
        s.refresh(caller)
        queued = [
            outbox.queue_message(s, caller, call, "survey", text, caller.language)
            for text in replies
        ]
        s.commit()
        outbox.dispatch(queued)
    return "sent" if queued else "nothing"
