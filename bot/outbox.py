"""The outbox: every outbound text is a row first, then a send job.

A message row is written in the same transaction as whatever caused it (a CAD event, a
turn); `dispatch()` enqueues its send after the commit. `send()` claims the row with a
conditional UPDATE (queued → sending), so two workers never send the same message.

What a send attempt can end in (the life cycle is drawn in `bot.models`):

    delivered / sent      the channel took it (console and email: delivered; Twilio: sent,
                          then its status callbacks move it on)
    queued again          a temporary failure: retried with exponential backoff and
                          jitter while the message's deadline allows, else failed
    failed                a permanent refusal; Twilio 21610 also opts the caller out,
                          21211/21614/30006 mark their number unreachable (later messages
                          go by email when the caller gave one)
    sending (no answer)   the request went out and no answer came: it may have arrived, so
                          it is not retried; a status callback or the sweeper settles it

The database is the system of record, the queue only a doorbell: `sweep()` re-enqueues
queued messages whose job was lost (Redis restarted) and settles sends that never ended.
Workers run it from their periodic maintenance (`sweep_if_due`).
"""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot import db, runtime
from bot.channels import (
    OptedOutError,
    OutcomeUnknownError,
    PermanentError,
    TemporaryError,
    UnreachableError,
    twilio_sms,
)
from bot.logs import mask
from bot.models import Call, Caller, Message, utcnow
from bot.texts import agency_for
from responses import render

log = logging.getLogger(__name__)

BACKOFF_CAP = timedelta(minutes=10)
# A queued message whose send job should have run this long ago is presumed lost.
LOST_JOB_GRACE = timedelta(minutes=2)
# A send still unanswered after this long (well past RQ's job timeout) will not end by itself.
STALE_SENDING = timedelta(minutes=15)
SWEEP_INTERVAL = timedelta(minutes=1)
SWEEP_BATCH = 500

# Delivery statuses by how far along they are, so a late callback never moves one back.
# Ours: queued, sending, sent, delivered, failed, suppressed; the rest are Twilio's.
STATUS_RANK = {
    "queued": 0, "sending": 1, "accepted": 2, "scheduled": 2, "sent": 3,
    "delivered": 5, "undelivered": 5, "failed": 5, "canceled": 5, "read": 6, "suppressed": 6,
}  # fmt: skip
# Twilio's error codes as its status callbacks carry them (text).
OPTED_OUT_CODES = {str(code) for code in twilio_sms.OPTED_OUT_CODES}
UNREACHABLE_CODES = {str(code) for code in twilio_sms.UNREACHABLE_CODES}


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
        send_deadline=utcnow() + runtime.current().settings.send_deadline,
    )
    s.add(message)
    return message


def preferred_channel(caller: Caller, call: Call | None) -> str:
    """SMS, unless the agency prefers email or the caller's number cannot get texts."""
    rt = runtime.current()
    agency = agency_for(call)
    has_email = caller.email is not None and "email" in rt.channels
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
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    s.commit()
    if not claimed:
        return "not-queued"
    message = s.get_one(Message, message_id, populate_existing=True)
    caller = message.caller
    rt = runtime.current()
    if _aware(message.send_deadline) < datetime.now(UTC):
        return _fail(s, message, "expired", "not sent before its deadline")
    if caller is not None and caller.opted_out and message.kind != "compliance":
        message.status = "suppressed"
        s.commit()
        return "suppressed"
    if message.channel == "sms" and caller is not None and caller.unreachable_at is not None:
        if caller.email and "email" in rt.channels:
            message.channel, message.address = "email", caller.email
        else:
            return _fail(s, message, "unreachable", "the caller's number cannot get texts")

    if message.channel not in rt.channels:  # e.g. SMTP_URL removed since it was queued
        return _fail(s, message, "no-channel", f"no {message.channel} channel is configured")
    channel = rt.channel(message.channel)
    try:
        sid = channel.send(
            message.address or "",
            _body(message),
            subject=_subject(message) if message.channel == "email" else None,
            reference=message.id,
        )
    except OptedOutError as exc:
        if caller is not None and caller.opted_out_at is None:
            caller.opted_out_at = utcnow()
        return _fail(s, message, exc.code, str(exc), outcome="opted-out")
    except UnreachableError as exc:
        outcome = _fail(s, message, exc.code, str(exc), outcome="unreachable")
        if caller is not None:
            _mark_unreachable(s, caller, message)
        return outcome
    except PermanentError as exc:
        return _fail(s, message, exc.code, str(exc))
    except TemporaryError as exc:
        return _retry_later(s, message, exc)
    except OutcomeUnknownError as exc:
        message.error_code, message.error_message = exc.code, mask(str(exc))[:500]
        s.commit()
        log.warning("message %s: no answer from %s, not retried: %s", message.id, channel.name, exc)
        return "unknown"

    final = "delivered" if channel.delivers_immediately else "sent"
    if not _advance(s, message.id, final, provider_sid=sid, error_code=None, error_message=None):
        # A status callback overtook us (it finds the message by its id): keep its news.
        s.execute(
            update(Message)
            .where(Message.id == message.id, Message.provider_sid.is_(None))
            .values(provider_sid=sid)
            .execution_options(synchronize_session=False)
        )
    s.commit()
    s.refresh(message)
    log.info("sent message %s (%s) via %s", message.id, message.kind, message.channel)
    return final


def _aware(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.max.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite drops the zone


def _body(message: Message) -> str:
    if message.channel != "email":
        return message.body
    footer = render("email_footer", message.language or "en", agency_for(message.call).overrides)
    return f"{message.body}\n\n{footer}"


def _subject(message: Message) -> str:
    agency, language = agency_for(message.call), message.language or "en"
    if message.call is None:
        return render("email_subject", language, agency.overrides, agency_name=agency.name)
    return render(
        "email_subject_call",
        language,
        agency.overrides,
        agency_name=agency.name,
        call_number=message.call.cad_id,
    )


def _fail(s: Session, message: Message, code: str | None, why: str, outcome: str = "failed") -> str:
    message.status = "failed"
    message.error_code = code
    message.error_message = mask(why)[:500]
    s.commit()
    log.warning("message %s failed permanently (%s): %s", message.id, code, mask(why))
    return outcome


def _mark_unreachable(s: Session, caller: Caller, failed: Message) -> None:
    """Remembers the number cannot get texts; this very text goes by email if it can."""
    if caller.unreachable_at is None:
        caller.unreachable_at = utcnow()
    if failed.channel == "sms" and caller.email and "email" in runtime.current().channels:
        kind, language = failed.kind or "reply", failed.language or "en"
        retry = queue_message(s, caller, failed.call, kind, failed.body, language, "email")
        s.commit()
        dispatch([retry])
    else:
        s.commit()


def backoff(attempt: int, base: timedelta) -> timedelta:
    """Exponential backoff with jitter (attempt counts from 1).

    The delay doubles per attempt up to `BACKOFF_CAP` and is drawn from its upper half,
    so retries of many messages spread out yet never come sooner than half the step.
    """
    step = min(BACKOFF_CAP, base * 2 ** (attempt - 1))
    return step * random.uniform(0.5, 1.0)


def _retry_later(s: Session, message: Message, exc: TemporaryError) -> str:
    settings = runtime.current().settings
    delay = backoff(message.attempts, settings.retry_backoff)
    now = datetime.now(UTC)
    message.error_code = exc.code
    message.error_message = mask(str(exc))[:500]
    if now + delay > _aware(message.send_deadline):
        return _fail(s, message, exc.code, f"gave up at the deadline: {exc}")
    message.status = "queued"
    message.next_attempt_at = now + delay
    s.commit()
    runtime.current().queue(runtime.OUTBOX).enqueue_in(delay, send, message.id)
    log.info(
        "message %s: temporary failure (%s), retry in %.1fs",
        message.id,
        mask(str(exc)),
        delay.total_seconds(),
    )
    return "retrying"


def _advance(s: Session, message_id: int, status: str, **values: Any) -> bool:
    """Moves the message to `status` only if that is forward; atomic against races."""
    rank = STATUS_RANK.get(status)
    if rank is None:
        return False
    behind = [name for name, r in STATUS_RANK.items() if r < rank]
    moved = s.execute(
        update(Message)
        .where(Message.id == message_id, Message.status.in_(behind))
        .values(status=status, **values)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    return bool(moved)


def apply_status_callback(
    provider_sid: str, status: str, error_code: str | None, message_id: int | None = None
) -> bool:
    """Twilio's delivery report; a report that would move the message backwards is ignored.

    The message is found by its Twilio sid, or by our id (the status callback URL carries
    it) when the report overtakes the worker that has not recorded the sid yet.
    """
    s = db.session()
    message = s.scalars(
        select(Message).where(Message.provider_sid == provider_sid, Message.direction == "outbound")
    ).one_or_none()
    if message is None and message_id is not None:
        candidate = s.get(Message, message_id)
        if (
            candidate is not None
            and candidate.direction == "outbound"
            and candidate.provider_sid in (None, provider_sid)
        ):
            message = candidate
    if message is None:
        log.info("status callback for an unknown message %s", provider_sid)
        return False
    _advance(s, message.id, status, provider_sid=provider_sid, error_code=error_code or None)
    caller = message.caller
    if caller is not None and error_code in OPTED_OUT_CODES and caller.opted_out_at is None:
        caller.opted_out_at = utcnow()
    if caller is not None and error_code in UNREACHABLE_CODES and message.channel == "sms":
        caller.unreachable_at = caller.unreachable_at or utcnow()
    s.commit()
    return True


def sweep(now: datetime | None = None) -> dict[str, int]:
    """Re-enqueues queued messages whose send job was lost; settles stuck and expired ones."""
    s = db.session()
    now = now or datetime.now(UTC)
    waiting_since = func.coalesce(Message.next_attempt_at, Message.updated_at)
    lost = s.execute(
        select(Message.id, Message.send_deadline)
        .where(
            Message.direction == "outbound",
            Message.status == "queued",
            waiting_since < now - LOST_JOB_GRACE,
        )
        .order_by(Message.id)
        .limit(SWEEP_BATCH)
    ).all()
    expired = [message_id for message_id, deadline in lost if _aware(deadline) < now]
    to_send = [message_id for message_id, deadline in lost if _aware(deadline) >= now]
    counts = {"requeued": len(to_send), "expired": 0, "interrupted": 0}
    if expired:
        counts["expired"] = s.execute(
            update(Message)
            .where(Message.id.in_(expired), Message.status == "queued")
            .values(status="failed", error_code="expired", updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
    # Whether a stuck send went out is unknown; sending it again could text the caller twice.
    counts["interrupted"] = s.execute(
        update(Message)
        .where(
            Message.direction == "outbound",
            Message.status == "sending",
            Message.updated_at < now - STALE_SENDING,
        )
        .values(
            status="failed",
            error_code=func.coalesce(Message.error_code, "interrupted"),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    s.commit()
    for message_id in to_send:
        runtime.enqueue(runtime.OUTBOX, send, message_id)
    if any(counts.values()):
        log.warning("outbox sweep: %s", counts)
    return counts


def sweep_if_due() -> None:
    """Sweeps at most once per `SWEEP_INTERVAL` across all workers (called by each worker)."""
    rt = runtime.current()
    try:
        if rt.redis.set("tenfour:outbox:swept", "1", nx=True, px=_ms(SWEEP_INTERVAL)):
            sweep()
    except Exception:
        # A worker must outlive a failed sweep (the database may be restarting): try later.
        log.exception("outbox sweep failed")
    finally:
        db.session.remove()


def _ms(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1000)
