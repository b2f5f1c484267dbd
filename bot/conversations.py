"""Inbound texts: recorded once by the webhook, answered in order by a worker.

`record_inbound` runs inside the webhook and only writes a row (unique on Twilio's
MessageSid) and enqueues the turn. `handle_turns` runs on a worker under a per-caller lock
and answers every unanswered text of that caller oldest first, so two quick texts are
answered in order whichever worker picks which job.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import db, outbox, runtime
from bot.engine import EngineUnavailable
from bot.models import Call, Caller, Conversation, Message, utcnow
from bot.phones import normalize
from nlu import language as lang
from responses import render

log = logging.getLogger(__name__)

TURN_LOCK_TIMEOUT = 120  # seconds a turn may hold its caller's lock
ENGINE_RETRY_SECONDS = 15


def find_or_create_caller(s: Session, phone: str) -> Caller:
    caller = s.scalars(select(Caller).filter_by(phone=phone)).one_or_none()
    if caller is None:
        caller = Caller(phone=phone)
        s.add(caller)
        s.flush()
    return caller


def latest_call(s: Session, caller: Caller) -> Call | None:
    """The caller's most recent call that may be texted about."""
    return s.scalars(
        select(Call)
        .filter_by(caller_id=caller.id, suppressed=False)
        .order_by(Call.created_at.desc(), Call.id.desc())
        .limit(1)
    ).one_or_none()


def record_inbound(sid: str, from_number: str, body: str, media_count: int = 0) -> Message | None:
    """Records a text from Twilio and enqueues its turn; None if this MessageSid was seen."""
    s = db.session()
    phone = normalize(from_number)
    caller = find_or_create_caller(s, phone)
    message = Message(
        direction="inbound",
        channel="sms",
        body=body,
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
    runtime.enqueue(runtime.TURNS, handle_turns, caller.id)
    return message


def handle_turns(caller_id: int) -> int:
    """Worker job: answers the caller's unanswered texts in order; returns how many."""
    rt = runtime.current()
    lock = rt.redis.lock(f"tenfour:turn-lock:{caller_id}", timeout=TURN_LOCK_TIMEOUT)
    with lock:
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
    agency = rt.settings.agency(call.agency if call else None)
    language = lang.detect(message.body, current=caller.language)
    if language != caller.language:  # detect() keeps the current one unless there is a signal
        caller.language = language
        caller.language_known = True
    message.language = language
    message.call = call
    replies: list[str]
    if call is None:
        replies = [
            render(
                "no_call_on_file",
                language,
                agency.overrides,
                agency_name=agency.name,
                non_emergency_number=agency.non_emergency_number,
            )
        ]
    else:
        conv = conversation_for(s, caller, call)
        conv.language = language
        message.conversation_id = conv.id
        s.commit()  # the action server reads the language and call from the database
        metadata = {"message_id": message.id, "call_id": call.cad_id, "language": language}
        replies = rt.engine.send(conv.sender_id, message.body, metadata) if rt.engine else []
        s.refresh(message)
    queued = [outbox.queue_message(s, caller, call, "reply", text, language) for text in replies]
    message.status = "handled"
    message.updated_at = utcnow()
    s.commit()
    outbox.dispatch(queued)
