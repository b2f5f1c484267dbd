"""What the caller is told about their call, and when: the texts and the timers.

Every text is rendered from `responses/{en,es}/notifications.yml` in the caller's language
and queued in the outbox inside the caller's transaction (the state change that caused
it); `bot.calls` dispatches after the commit. Nothing is texted about a suppressed call
(an excluded call type) and queue_message suppresses texts to opted-out callers.

Two timers run as RQ scheduled jobs on the `default` queue, one of each per call, with
fixed job ids so they can be cancelled and rescheduled:

- the delay notice, `TENFOUR_DELAY_NOTICE_AFTER` (per priority) after `call.created`, sent
  only if the call still has no unit when the job runs;
- the survey invitation, `TENFOUR_SURVEY_AFTER` after `call.closed`, moved to the end of
  `TENFOUR_QUIET_HOURS` (in `TENFOUR_TIMEZONE`) when it would fall inside them; it hands
  over to the dialogue (`bot.conversations.start_survey`).

Both jobs re-check the call when they run and take a `now` so tests drive them by clock.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from bot import db, outbox, runtime
from bot.models import Call, Message, utcnow
from bot.texts import agency_for, render_for

log = logging.getLogger(__name__)

DELAY, SURVEY = "delay", "survey"

# CAD dispositions and case statuses, each with its own sentence in responses/.
DISPOSITIONS = (
    "report_taken", "gone_on_arrival", "unable_to_locate", "advised", "arrest", "referred",
    "cancelled",
)  # fmt: skip
CASE_STATUSES = ("report_approved", "assigned_detective", "suspect_arrested", "closed")


def text(call: Call, key: str, language: str, **params: Any) -> str:
    """The text `key` about `call`, with the agency's name, numbers and overrides."""
    return render_for(key, language, agency_for(call), call, **params)


def notify(s: Session, call: Call, kind: str, keys: list[str], **params: Any) -> Message | None:
    """Queues one text made of `keys` (joined by a space) to the call's caller.

    None when nothing may be texted: the call is suppressed or has no caller yet.
    """
    caller = call.caller
    if call.suppressed or caller is None:
        return None
    language = caller.language
    body = " ".join(text(call, key, language, **params) for key in keys)
    return outbox.queue_message(s, caller, call, kind, body, language)


def has_message(s: Session, call: Call, *kinds: str) -> bool:
    return bool(
        s.scalar(
            select(
                exists().where(
                    Message.call_id == call.id,
                    Message.direction == "outbound",
                    Message.kind.in_(kinds),
                )
            )
        )
    )


# --- the texts, one function per thing the caller can be told -------------------------------


def acknowledgement(s: Session, call: Call) -> Message | None:
    return notify(s, call, "acknowledgement", ["notify_acknowledgement"])


def _shows_officer(call: Call) -> bool:
    return agency_for(call).show_officer and bool(call.officer_name and call.officer_badge)


def assigned(s: Session, call: Call, reassigned: bool = False) -> Message | None:
    """A unit is assigned; the officer's public name and badge only if the agency allows."""
    key = "notify_reassigned" if reassigned else "notify_assigned"
    if _shows_officer(call):
        return notify(
            s, call, "assigned", [key + "_officer"],
            officer_name=call.officer_name, badge=call.officer_badge,
        )  # fmt: skip
    return notify(s, call, "assigned", [key])


def enroute(s: Session, call: Call) -> Message | None:
    return notify(s, call, "enroute", ["notify_enroute"])


def arrived(s: Session, call: Call) -> Message | None:
    return notify(s, call, "arrived", ["notify_arrived"])


def diverted(s: Session, call: Call) -> Message | None:
    # CONTRACTS §4 has no "diverted" kind: for the caller it is a delay.
    return notify(s, call, "delay", ["notify_diverted"])


def delay(s: Session, call: Call) -> Message | None:
    return notify(s, call, "delay", ["notify_delay"])


def closed(s: Session, call: Call) -> Message | None:
    """The disposition in plain words; the case number when there is one."""
    disposition = call.disposition if call.disposition in DISPOSITIONS else "advised"
    keys = [f"notify_closed_{disposition}"]
    if call.case_number and disposition != "report_taken":
        keys.append("notify_case_number")
    return notify(s, call, "closed", keys, case_number=call.case_number or "")


def case_update(s: Session, call: Call) -> Message | None:
    status = call.case_status
    if status not in CASE_STATUSES:
        return None
    key = f"notify_case_{status}"
    named = status == "assigned_detective" and call.detective and agency_for(call).show_officer
    if named:
        key += "_named"
    return notify(
        s, call, "case_update", [key], case_number=call.case_number or "",
        detective=call.detective or "",
    )  # fmt: skip


def suppress(s: Session, call: Call) -> None:
    """Stops everything about `call`: no text from now on, queued ones never sent.

    The caller cancels the timers after the commit (`cancel_timers`); the timer jobs also
    re-check `call.suppressed`, so one that fires in between sends nothing.
    """
    call.suppressed = True
    s.execute(
        update(Message)
        .where(Message.call_id == call.id, Message.direction == "outbound")
        .where(Message.status == "queued")
        .values(status="suppressed", updated_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )


# --- timers ------------------------------------------------------------------------------------


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite drops the zone


def timer_job_id(kind: str, call_id: int) -> str:
    return f"tenfour-{kind}-{call_id}"


def schedule(kind: str, call_id: int, at: datetime) -> None:
    """(Re)schedules the call's `kind` timer at `at` (UTC); a time past runs at once."""
    func = delay_notice if kind == DELAY else survey_invitation
    queue = runtime.current().queue(runtime.DEFAULT)
    queue.enqueue_at(_aware(at), func, call_id, job_id=timer_job_id(kind, call_id))


def cancel(kind: str, call_id: int) -> None:
    with contextlib.suppress(NoSuchJobError):  # never scheduled, or already ran
        Job.fetch(timer_job_id(kind, call_id), connection=runtime.current().redis).delete()


def cancel_timers(call_id: int) -> None:
    cancel(DELAY, call_id)
    cancel(SURVEY, call_id)


def delay_due(call: Call) -> datetime:
    settings = runtime.current().settings
    wait = agency_for(call).delay_for(call.priority, settings.delay_notice_after)
    return _aware(call.created_at) + wait


def quiet_until(
    moment: datetime, quiet_hours: tuple[time, time] | None, tz: ZoneInfo
) -> datetime | None:
    """The end of the quiet hours (UTC) if `moment` falls inside them, else None."""
    if quiet_hours is None or quiet_hours[0] == quiet_hours[1]:
        return None
    start, end = quiet_hours
    local = _aware(moment).astimezone(tz)
    now = local.time().replace(tzinfo=None)
    if start < end:
        inside, end_day = start <= now < end, local.date()
    else:  # spans midnight, e.g. 21:00-08:00
        inside = now >= start or now < end
        end_day = local.date() + timedelta(days=1) if now >= start else local.date()
    if not inside:
        return None
    return datetime.combine(end_day, end, tzinfo=tz).astimezone(UTC)


def survey_due(call: Call) -> datetime:
    """`TENFOUR_SURVEY_AFTER` after closing, moved out of the quiet hours."""
    settings = runtime.current().settings
    due = _aware(call.closed_at or utcnow()) + settings.survey_after
    return quiet_until(due, settings.quiet_hours, settings.timezone) or due


def _locked_call(s: Session, call_id: int) -> Call | None:
    return s.scalars(select(Call).filter_by(id=call_id).with_for_update()).one_or_none()


def delay_notice(call_id: int, now: datetime | None = None) -> str:
    """Timer job: the delay notice, if the call still waits for a unit."""
    now = now or utcnow()
    s = db.session()
    call = _locked_call(s, call_id)
    if call is None or call.suppressed or call.state != "received" or call.diverted:
        s.rollback()
        return "not-needed"
    if has_message(s, call, "delay"):
        s.rollback()
        return "already-sent"
    due = delay_due(call)
    if due > now:  # the priority changed to a less urgent one since it was scheduled
        s.rollback()
        schedule(DELAY, call_id, due)
        return "rescheduled"
    message = delay(s, call)
    s.commit()
    outbox.dispatch([message] if message else [])
    return "sent" if message else "no-caller"


def survey_invitation(call_id: int, now: datetime | None = None) -> str:
    """Timer job: hands the closed call's caller to the dialogue's feedback form."""
    from bot import conversations

    now = now or utcnow()
    settings = runtime.current().settings
    s = db.session()
    call = _locked_call(s, call_id)
    caller = call.caller if call else None
    if call is None or call.suppressed or call.state != "closed" or caller is None:
        s.rollback()
        return "not-needed"
    if caller.opted_out:
        s.rollback()
        return "opted-out"
    if has_message(s, call, "survey"):
        s.rollback()
        return "already-sent"
    held = quiet_until(now, settings.quiet_hours, settings.timezone)
    if held is not None:
        s.rollback()
        schedule(SURVEY, call_id, held)
        return "held"
    s.commit()
    conversations.start_survey(call_id)
    log.info("survey started for call %s", call_id)
    return "started"
