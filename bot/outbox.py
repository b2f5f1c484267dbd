"""The outbox: every outbound text is a row first, then a send job.

A message row is written in the same transaction as whatever caused it (a CAD event, a
turn); `dispatch()` enqueues its send after the commit. `send()` claims the row with a
conditional UPDATE (queued → sending), so two workers never send the same message.
Temporary failures are retried with exponential backoff and full jitter until the
message's deadline; permanent ones are not.
"""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from bot import db, runtime
from bot.channels import OptedOutError, PermanentError, TemporaryError, UnreachableError
from bot.models import Call, Caller, Message, utcnow

log = logging.getLogger(__name__)

SEND_DEADLINE = timedelta(hours=2)
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 600.0

# Delivery statuses by how far along they are, so a late callback never moves one back.
STATUS_RANK = {
    "queued": 0, "sending": 1, "accepted": 2, "sent": 3,
    "delivered": 5, "undelivered": 5, "failed": 5, "read": 6, "suppressed": 6,
}  # fmt: skip


def queue_message(
    s: Session,
    caller: Caller,
    call: Call | None,
    kind: str,
    body: str,
    language: str,
    channel: str | None = None,
) -> Message:
    """Adds an outbound message to the session; suppressed if the caller opted out.

    Compliance confirmations (kind "compliance") go even to an opted-out caller: the
    one confirmation the rules require.
    """
    channel = channel or preferred_channel(caller, call)
    address = caller.email if channel == "email" else caller.phone
    blocked = (caller.opted_out and kind != "compliance") or address is None
    message = Message(
        direction="outbound",
        channel=channel,
        kind=kind,
        language=language,
        body=body,
        caller=caller,
        call=call,
        address=address,
        status="suppressed" if blocked else "queued",
        send_deadline=utcnow() + SEND_DEADLINE,
    )
    s.add(message)
    return message


def preferred_channel(caller: Caller, call: Call | None) -> str:
    settings = runtime.current().settings
    agency = settings.agency(call.agency if call else None)
    has_email = caller.email is not None and "email" in runtime.current().channels
    if not caller.phone or caller.unreachable_at is not None:
        return "email" if has_email else "sms"
    if agency.preferred_channel == "email" and has_email:
        return "email"
    return "sms"


def dispatch(messages: list[Message]) -> None:
    """Enqueues the send of each queued message (call after the commit)."""
    for message in messages:
        if message.status == "queued":
            runtime.enqueue(runtime.OUTBOX, send, message.id)


def send(message_id: int) -> str:
    """Worker job: delivers one message through its channel, at most once."""
    s = db.session()
    claimed = s.execute(
        update(Message)
        .where(Message.id == message_id, Message.status == "queued")
        .values(status="sending", attempts=Message.attempts + 1, updated_at=utcnow())
    ).rowcount  # type: ignore[attr-defined]
    s.commit()
    if not claimed:
        return "not-queued"
    message = s.get_one(Message, message_id)
    caller = message.caller
    if caller is not None and caller.opted_out and message.kind != "compliance":
        message.status = "suppressed"
        s.commit()
        return "suppressed"
    channel = runtime.current().channel(message.channel)
    subject = None
    try:
        sid = channel.send(message.address or "", message.body, subject=subject)
    except OptedOutError as exc:
        _fail(s, message, exc)
        if caller is not None and caller.opted_out_at is None:
            caller.opted_out_at = utcnow()
        s.commit()
        return "opted-out"
    except UnreachableError as exc:
        _fail(s, message, exc)
        if caller is not None:
            caller.unreachable_at = utcnow()
        s.commit()
        return "unreachable"
    except PermanentError as exc:
        _fail(s, message, exc)
        s.commit()
        return "failed"
    except TemporaryError as exc:
        return _retry_later(s, message, exc)
    message.provider_sid = sid
    message.status = "delivered" if getattr(channel, "delivers_immediately", False) else "sent"
    message.error_code = None
    s.commit()
    log.info("sent message %s (%s) via %s", message.id, message.kind, message.channel)
    return message.status


def _fail(s: Session, message: Message, exc: PermanentError) -> None:
    message.status = "failed"
    message.error_code = exc.code
    message.error_message = str(exc)[:500]
    log.warning("message %s failed permanently: %s", message.id, exc)


def backoff(attempt: int) -> float:
    """Exponential backoff with full jitter, in seconds (attempt counts from 1)."""
    return random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)))


def _retry_later(s: Session, message: Message, exc: TemporaryError) -> str:
    delay = timedelta(seconds=backoff(message.attempts))
    now = datetime.now(UTC)
    deadline = message.send_deadline
    if deadline is not None and deadline.tzinfo is None:  # SQLite drops the zone
        deadline = deadline.replace(tzinfo=UTC)
    message.error_code = exc.code
    message.error_message = str(exc)[:500]
    if deadline is not None and now + delay > deadline:
        message.status = "failed"
        s.commit()
        log.warning("message %s gave up at its deadline: %s", message.id, exc)
        return "failed"
    message.status = "queued"
    message.next_attempt_at = now + delay
    s.commit()
    runtime.current().queue(runtime.OUTBOX).enqueue_in(delay, send, message.id)
    log.info(
        "message %s: temporary failure (%s), retry in %.1fs", message.id, exc, delay.total_seconds()
    )
    return "retrying"


def apply_status_callback(provider_sid: str, status: str, error_code: str | None) -> bool:
    """Twilio's delivery report; ignored when it would move the message backwards."""
    s = db.session()
    message = s.query(Message).filter_by(provider_sid=provider_sid).one_or_none()
    if message is None:
        return False
    if STATUS_RANK.get(status, -1) > STATUS_RANK.get(message.status, -1):
        message.status = status
        if error_code:
            message.error_code = error_code
            if error_code in ("21610",) and message.caller and not message.caller.opted_out:
                message.caller.opted_out_at = utcnow()
            elif error_code in ("21211", "21614", "30006") and message.caller:
                message.caller.unreachable_at = utcnow()
        s.commit()
    return True
