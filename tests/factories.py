"""Builders for test data and signed requests."""

from __future__ import annotations

from typing import Any

from twilio.request_validator import RequestValidator

from bot import db
from bot.models import Call, Caller, Message

TWILIO_AUTH_TOKEN = "test-twilio-auth-token"
_sid_counter = iter(range(1, 10**9))


def create_caller(phone: str = "+15415550123", language: str = "en", **kw: Any) -> Caller:
    caller = Caller(phone=phone, language=language, **kw)
    db.session.add(caller)
    db.session.commit()
    return caller


def create_call(caller: Caller, cad_id: str = "MPD-26-004512", **kw: Any) -> Call:
    values = {"type_code": "BURG", "priority": 3, "state": "received", **kw}
    call = Call(cad_id=cad_id, caller=caller, **values)
    db.session.add(call)
    db.session.commit()
    return call


def twilio_signature(url: str, form: dict[str, str], token: str = TWILIO_AUTH_TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, form))


def post_inbound_sms(
    client: Any, body: str, from_: str = "+15415550123", sid: str | None = None, **extra: str
) -> Any:
    """Posts a text to the webhook exactly as Twilio would, signed."""
    form = {
        "MessageSid": sid or f"SM{next(_sid_counter):032d}",
        "From": from_,
        "To": "+15415550100",
        "Body": body,
        "NumMedia": "0",
        **extra,
    }
    url = "http://localhost/webhooks/twilio/sms"
    return client.post(url, data=form, headers={"X-Twilio-Signature": twilio_signature(url, form)})


# --- CAD events (tests of the CAD endpoint, the call state machine, the scripted day) -------

CAD_WEBHOOK_SECRET = "test-cad-secret"  # conftest's settings_env uses the same
_event_counter = iter(range(1, 10**9))


def cad_event(
    type_: str,
    call_id: str = "MPD-26-004512",
    occurred_at: str = "2026-12-04T15:00:00Z",
    event_id: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A CAD event as CONTRACTS.md §3 shows it; `fields` replace or add top-level keys.

    `call` may be given as a dict merged into {"id": call_id}; call.created gets a
    burglary, priority 3 and an English-speaking caller unless told otherwise.
    """
    call = {"id": call_id, **fields.pop("call", {})}
    event: dict[str, Any] = {
        "event_id": event_id or f"evt-{next(_event_counter):06d}",
        "type": type_,
        "occurred_at": occurred_at,
        "call": call,
    }
    if type_ == "call.created":
        call.setdefault("type_code", "BURG")
        call.setdefault("priority", 3)
        event["caller"] = {"phone": "+15415550123", "email": None, "language": None}
    if type_.startswith("unit."):
        event["unit"] = {"id": "2A31", "officer": {"name": "J. Smith", "badge": "1234"}}
    event.update(fields)
    return event


def cad_headers(
    body: bytes, secret: str = CAD_WEBHOOK_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    from bot.cad import sign

    signature = sign(secret, body, timestamp)
    return {"Content-Type": "application/json", "X-TenFour-Signature": signature}


def post_cad_event(client: Any, event: dict[str, Any], **kw: Any) -> Any:
    """Posts a CAD event to the endpoint, signed as the CAD would."""
    import json

    body = json.dumps(event).encode()
    return client.post("/webhooks/cad/events", data=body, headers=cad_headers(body, **kw))


def run_due_timers(
    until: Any, log: list[tuple[str, Any, str]] | None = None
) -> list[tuple[str, str]]:
    """Runs the scheduled timer jobs due by `until` (a UTC datetime), in time order, each
    with `now` = its scheduled time, as a punctual worker would; jobs they schedule run
    too if due. Returns (job id, result) pairs and appends (job id, time, result) to `log`.
    Deterministic: no sleeping, no real clock.
    """
    import inspect

    from rq.job import Job

    from bot import runtime

    rt = runtime.current()
    registry = rt.queue(runtime.DEFAULT).scheduled_job_registry
    ran: list[tuple[str, str]] = []
    while True:
        due = registry.get_jobs_to_schedule(int(until.timestamp()))
        if not due:
            return ran
        job_id = min(due, key=registry.get_scheduled_time)
        when = registry.get_scheduled_time(job_id)
        job = Job.fetch(job_id, connection=rt.redis)
        registry.remove(job)
        # Our timers take the clock; other scheduled jobs (e.g. a retry) run as they are.
        clock = {"now": when} if "now" in inspect.signature(job.func).parameters else {}
        result = job.func(*job.args, **job.kwargs, **clock)
        ran.append((job_id, result))
        if log is not None:
            log.append((job_id, when, result))
        db.session.remove()


def drain_queues() -> None:
    """Runs every queued job with a real RQ worker (burst), like conftest's `run_worker`."""
    from bot.jobs import run_worker

    run_worker(burst=True, with_scheduler=False)
    db.session.remove()


def queue_outbound(
    caller: Caller, call: Call | None = None, body: str = "Your call is in the queue."
) -> int:
    """Queues one text to `caller` and enqueues its send, as the domain code does."""
    from bot import outbox

    s = db.session()
    message = outbox.queue_message(s, caller, call, "acknowledgement", body, caller.language)
    s.commit()
    outbox.dispatch([message])
    return message.id


def reload_message(message_id: int) -> Message:
    """The message as the database has it now."""
    db.session.expire_all()
    return db.session.get_one(Message, message_id)


def enqueue_due_retries() -> int:
    """RQ's own scheduler, once: moves due scheduled jobs onto their queues; how many."""
    from rq.scheduler import RQScheduler

    from bot import runtime

    rt = runtime.current()
    queues = [rt.queue(name) for name in runtime.QUEUE_NAMES]
    due = sum(len(q.scheduled_job_registry.get_jobs_to_schedule()) for q in queues)
    if due:
        scheduler = RQScheduler(queues, connection=rt.redis)
        scheduler.acquire_locks()
        try:
            scheduler.enqueue_scheduled_jobs()
        finally:
            scheduler.release_locks()
    return due


def deliver_all(rounds: int = 50) -> None:
    """Runs the worker, then RQ's scheduler for due retries, until no send is waiting."""
    for _ in range(rounds):
        drain_queues()
        if not enqueue_due_retries():
            return
    raise AssertionError(f"the outbox did not settle in {rounds} rounds")
