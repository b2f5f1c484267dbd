"""The call's state machine: CAD events move a call forward, never back.

::

                unit.assigned          unit.enroute           unit.arrived
    received ────────────────▶ assigned ──────────────▶ enroute ──────────────▶ arrived
        │                      ▲    │                      │                       │
        │          unit.assigned    │ unit.diverted        │ unit.diverted         │ unit.diverted
        │          (reassigned)     ▼                      ▼                       ▼
        │                      └── assigned + diverted ◀────────────────────────────
        │
        └──── call.closed, from any state above ────▶ closed ──case.updated──▶ closed
                                                                (case_status: report_approved
                                                                 → assigned_detective
                                                                 → suspect_arrested → closed)

    call.created / call.updated set the caller, type and priority in any state; a type
    in the agency's excluded list suppresses the call for good (nothing texted again,
    queued texts suppressed, timers stopped).

Rules that keep late and out-of-order events harmless:

- A unit or closing event older (`occurred_at`) than the last one applied to the call is
  stale: recorded, not applied, nothing texted.
- An event that would not move the call forward is stale too: `unit.assigned` after
  `unit.arrived`, anything but `case.updated` after `call.closed`. Skipping ahead is fine
  (`unit.arrived` straight after `call.created`).
- `unit.diverted` applies only to the unit the caller was told about; it takes the call
  back to `assigned` + diverted until a unit is assigned again (a real later event, not
  a step back).
- Case statuses only move forward, in the order drawn above.
- Events may come before `call.created`: the call is created bare (no caller, so nothing
  is texted) and `call.created` fills it in and acknowledges it unless it is closed (and
  says a unit is assigned if one is assigned or on the way).

Each event is recorded in `cad_events` (unique `event_id`: the database decides which of
two concurrent deliveries is the duplicate) with its outcome, in the same transaction as
the state change and the texts it queued; the texts are dispatched and the timers
(`bot.notifications`) scheduled or cancelled after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import db, notifications, outbox
from bot.cad import Event
from bot.models import CadEvent, Call, Caller, Message
from bot.texts import agency_for
from responses import LANGUAGES

log = logging.getLogger(__name__)

ACCEPTED, DUPLICATE = "accepted", "duplicate"
# Outcomes recorded on cad_events.outcome.
APPLIED = "applied"  # the call changed
STALE = "stale"  # late or out of order: not applied, nothing texted
IGNORED = "ignored"  # about another unit, or nothing new

STATES = ("received", "assigned", "enroute", "arrived", "closed")
STATE_RANK = {state: rank for rank, state in enumerate(STATES)}
CASE_RANK = {status: rank for rank, status in enumerate(notifications.CASE_STATUSES, start=1)}
UNIT_EVENTS = ("unit.assigned", "unit.enroute", "unit.diverted", "unit.arrived")
STATE_EVENTS = (*UNIT_EVENTS, "call.closed")
DETAIL_EVENTS = ("call.created", "call.updated")
UNIT_TARGETS = {"unit.assigned": "assigned", "unit.enroute": "enroute", "unit.arrived": "arrived"}


@dataclass
class Effects:
    """What to do once the transaction committed: send texts, set or stop timers."""

    messages: list[Message] = field(default_factory=list)
    after_commit: list[Callable[[], None]] = field(default_factory=list)

    def add(self, message: Message | None) -> None:
        if message is not None:
            self.messages.append(message)

    def run(self) -> None:
        outbox.dispatch(self.messages)
        for action in self.after_commit:
            action()


def receive(event: Event) -> str:
    """Records and applies one CAD event; `accepted`, or `duplicate` if seen before."""
    s = db.session()
    record = CadEvent(
        event_id=event.event_id,
        type=event.type,
        call_cad_id=event.call_id,
        occurred_at=event.occurred_at,
        payload=event.payload,
    )
    s.add(record)
    try:
        s.flush()
    except IntegrityError:
        s.rollback()  # the unique event_id: a retry, or another web instance got it first
        return DUPLICATE
    effects = Effects()
    record.outcome = apply(s, event, effects)
    s.commit()
    effects.run()
    log.info("CAD event %s (%s) on call %s: %s", event.event_id, event.type, event.call_id,
             record.outcome)  # fmt: skip
    return ACCEPTED


def apply(s: Session, event: Event, effects: Effects) -> str:
    """Applies `event` to its call (locked for the transaction); returns the outcome."""
    call = _locked_call(s, event)
    if event.agency and not call.agency:
        call.agency = event.agency
    if event.type == "call.created":
        return _created(s, call, event, effects)
    if event.type == "call.updated":
        return _updated(s, call, event, effects)
    if event.type == "case.updated":
        return _case_updated(s, call, event, effects)
    latest = _latest(s, call, STATE_EVENTS)
    if latest is not None and event.occurred_at < latest:
        return STALE
    if event.type == "call.closed":
        return _closed(s, call, event, effects)
    return _unit_event(s, call, event, effects)


# --- loading -------------------------------------------------------------------------------


def _locked_call(s: Session, event: Event) -> Call:
    query = select(Call).filter_by(cad_id=event.call_id).with_for_update()
    call = s.scalars(query).one_or_none()
    if call is not None:
        return call
    try:
        with s.begin_nested():
            call = Call(
                cad_id=event.call_id, agency=event.agency, state="received",
                created_at=event.occurred_at,
            )  # fmt: skip
            s.add(call)
    except IntegrityError:  # another delivery created it meanwhile; wait for its lock
        call = s.scalars(query).one()
    return call


def _caller(s: Session, event: Event) -> Caller | None:
    """The caller named by the event (by phone, else email), created if new."""
    caller = None
    if event.phone:
        caller = s.scalars(select(Caller).filter_by(phone=event.phone)).one_or_none()
    if caller is None and event.email:
        caller = s.scalars(select(Caller).filter_by(email=event.email)).one_or_none()
    if caller is None and (event.phone or event.email):
        try:
            with s.begin_nested():
                caller = Caller(phone=event.phone, email=event.email)
                s.add(caller)
        except IntegrityError:
            return _caller(s, event)
    if caller is None:
        return None
    if event.email and caller.email is None and not _email_taken(s, event.email):
        caller.email = event.email
    _set_language(caller, event)
    return caller


def _set_language(caller: Caller, event: Event) -> None:
    """The CAD's `caller.language`, when given and supported, is the caller's choice."""
    language = (event.language or "").split("-")[0].strip().lower()
    if language in LANGUAGES:  # an unsupported one leaves the caller's language as it was
        caller.language = language
        caller.language_known = True


def _email_taken(s: Session, email: str) -> bool:
    return s.scalars(select(Caller.id).filter_by(email=email)).first() is not None


def _latest(s: Session, call: Call, types: tuple[str, ...]) -> datetime | None:
    """When the newest applied event of these types occurred, for this call."""
    value = s.scalar(
        select(func.max(CadEvent.occurred_at)).where(
            CadEvent.call_cad_id == call.cad_id,
            CadEvent.type.in_(types),
            CadEvent.outcome == APPLIED,
        )
    )
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite drops the zone


def excluded(call: Call) -> bool:
    agency = agency_for(call)
    return call.type_code is not None and call.type_code in agency.excluded_call_types


def _notifies(call: Call, event_type: str) -> bool:
    return event_type in agency_for(call).notify_events


def _suppress(s: Session, call: Call, effects: Effects) -> None:
    if not call.suppressed:
        log.info("call %s suppressed (type %s)", call.cad_id, call.type_code)
    notifications.suppress(s, call)
    call_id = call.id
    effects.after_commit.append(lambda: notifications.cancel_timers(call_id))


# --- call.created, call.updated ------------------------------------------------------------


def _created(s: Session, call: Call, event: Event, effects: Effects) -> str:
    latest_details = _latest(s, call, DETAIL_EVENTS)
    if latest_details is None or event.occurred_at >= latest_details:
        call.type_code = event.type_code or call.type_code
        call.priority = event.priority or call.priority
    call.created_at = event.occurred_at
    if call.caller is None:
        call.caller = _caller(s, event)
    else:
        _set_language(call.caller, event)
    s.flush()
    if excluded(call) or call.suppressed:
        _suppress(s, call, effects)
        return APPLIED
    first = not notifications.has_message(s, call, "acknowledgement")
    if first and call.state != "closed" and _notifies(call, "call.created"):
        effects.add(notifications.acknowledgement(s, call))
        coming = call.state in ("assigned", "enroute") and not call.diverted
        if coming and _notifies(call, "unit.assigned"):
            # The unit came first (its event beat call.created): that is still news to them.
            effects.add(notifications.assigned(s, call))
    if call.state == "received" and not call.diverted:
        _schedule_delay(call, effects)
    return APPLIED


def _updated(s: Session, call: Call, event: Event, effects: Effects) -> str:
    latest_details = _latest(s, call, DETAIL_EVENTS)
    late = latest_details is not None and event.occurred_at < latest_details
    excluded_type = (
        event.type_code is not None and event.type_code in agency_for(call).excluded_call_types
    )
    if late and not excluded_type:
        return STALE
    if not late:
        priority_changed = event.priority is not None and event.priority != call.priority
        call.type_code = event.type_code or call.type_code
        call.priority = event.priority or call.priority
    else:
        # Safety wins over ordering: once the CAD called it an excluded type, stay silent.
        priority_changed = False
        call.type_code = event.type_code
    if excluded(call) or call.suppressed:
        _suppress(s, call, effects)
        return APPLIED
    if priority_changed and call.state == "received" and not call.diverted:
        _schedule_delay(call, effects)
    return APPLIED


def _schedule_delay(call: Call, effects: Effects) -> None:
    if call.caller is None:
        return
    call_id, due = call.id, notifications.delay_due(call)
    effects.after_commit.append(lambda: notifications.schedule(notifications.DELAY, call_id, due))


# --- units and closing ---------------------------------------------------------------------


def _unit_event(s: Session, call: Call, event: Event, effects: Effects) -> str:
    rank = STATE_RANK[call.state]
    if event.type == "unit.diverted":
        if call.state not in ("assigned", "enroute", "arrived") or call.diverted:
            return STALE
        if call.unit_id and event.unit_id != call.unit_id:
            return IGNORED  # a backup unit left; the caller's unit is still coming
        call.state, call.diverted = "assigned", True
        if _notifies(call, "unit.diverted"):
            effects.add(notifications.diverted(s, call))
        return APPLIED

    target = UNIT_TARGETS[event.type]
    reassigned = call.diverted and target == "assigned"
    if STATE_RANK[target] < rank:
        return STALE
    if STATE_RANK[target] == rank and not reassigned:
        return IGNORED  # e.g. a backup unit assigned: the caller already knows one is coming
    told_of_unit = rank >= STATE_RANK["assigned"] and not call.diverted
    if event.unit_id and not told_of_unit:
        call.unit_id = event.unit_id
        call.officer_name, call.officer_badge = event.officer_name, event.officer_badge
    was_diverted = call.diverted
    call.state, call.diverted = target, False
    call_id = call.id
    effects.after_commit.append(lambda: notifications.cancel(notifications.DELAY, call_id))
    if target == "assigned":
        if _notifies(call, "unit.assigned"):
            effects.add(notifications.assigned(s, call, reassigned=was_diverted))
    elif target == "enroute":
        if _notifies(call, "unit.enroute"):
            effects.add(notifications.enroute(s, call))
        elif not told_of_unit and _notifies(call, "unit.assigned"):
            # The assignment never came (lost or merged by the CAD): still say one is coming.
            effects.add(notifications.assigned(s, call, reassigned=was_diverted))
    elif _notifies(call, "unit.arrived"):
        effects.add(notifications.arrived(s, call))
    return APPLIED


def _closed(s: Session, call: Call, event: Event, effects: Effects) -> str:
    if call.state == "closed":
        return STALE
    call.state, call.diverted = "closed", False
    call.disposition = event.disposition
    call.case_number = event.case_number or call.case_number
    call.closed_at = event.occurred_at
    call_id = call.id
    effects.after_commit.append(lambda: notifications.cancel(notifications.DELAY, call_id))
    if call.suppressed:
        return APPLIED
    if _notifies(call, "call.closed"):
        effects.add(notifications.closed(s, call))
    if call.caller is not None:
        due = notifications.survey_due(call)
        effects.after_commit.append(
            lambda: notifications.schedule(notifications.SURVEY, call_id, due)
        )
    return APPLIED


def _case_updated(s: Session, call: Call, event: Event, effects: Effects) -> str:
    latest = _latest(s, call, ("case.updated",))
    if latest is not None and event.occurred_at < latest:
        return STALE
    current = CASE_RANK.get(call.case_status or "", 0)
    if CASE_RANK[str(event.case_status)] <= current:
        return STALE
    call.case_number = event.case_number or call.case_number
    call.case_status = event.case_status
    call.detective = event.detective or call.detective
    if _notifies(call, "case.updated"):
        effects.add(notifications.case_update(s, call))
    return APPLIED


def find(cad_id: str) -> Call | None:
    """The call with this CAD id, or None."""
    return db.session().scalars(select(Call).filter_by(cad_id=cad_id)).one_or_none()
