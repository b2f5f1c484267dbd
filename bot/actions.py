"""The engine's custom actions, served by the app at `POST /rasa/actions`.

This speaks the Rasa action server protocol (what rasa_sdk serves), so the engine needs
no action server of its own: it posts `{"next_action", "sender_id", "tracker", "domain"}`
and gets back `{"events": [...], "responses": [{"text": ...}]}`. Every text comes from
`responses/`, in the conversation's language (the one the worker decided for this turn,
or the one the caller just switched to).

The call is found from the message metadata (`call_id`) or, for actions the engine runs
without it, from the conversation whose `sender_id` the tracker carries.

The feedback form (`feedback_form` in nlu/domain.yml) is run by the engine; the app
validates its slots (`validate_feedback_form`, returning slot events the way rasa_sdk's
FormValidationAction does), asks for them (`action_ask_<slot>`) and stores the answers
(`action_submit_feedback`). A slot the caller skips, or answers badly twice, is set to
`ratings.SKIPPED` so the form moves on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import compliance, db, emergency, outbox, ratings, runtime
from bot.config import Agency
from bot.models import Call, Caller, Conversation, Flag, Message
from bot.texts import agency_for, render_for


class UnknownAction(LookupError):
    pass


class ActionError(ValueError):
    """The request was not a valid action call."""


FORM = "feedback_form"
RATING_SLOTS = ("call_taker_rating", "officer_rating")
COMMENT_SLOT = "feedback_comment"
FORM_SLOTS = (*RATING_SLOTS, COMMENT_SLOT)


@dataclass
class ActionContext:
    session: Session
    tracker: dict[str, Any]
    agency: Agency
    language: str
    call: Call | None
    caller: Caller | None
    message: Message | None
    conversation: Conversation | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    # Messages an action queued itself (e.g. an opt-out confirmation), sent after commit.
    outbound: list[Message] = field(default_factory=list)

    @property
    def latest(self) -> dict[str, Any]:
        return self.tracker.get("latest_message") or {}

    @property
    def text(self) -> str:
        return str(self.latest.get("text") or "")

    @property
    def intent(self) -> str | None:
        return (self.latest.get("intent") or {}).get("name")

    def entity(self, name: str) -> Any:
        for item in self.latest.get("entities") or []:
            if item.get("entity") == name:
                return item.get("value")
        return None

    def slot(self, name: str) -> Any:
        return (self.tracker.get("slots") or {}).get(name)

    def set_slot(self, name: str, value: Any) -> None:
        self.events.append({"event": "slot", "timestamp": None, "name": name, "value": value})

    def render(self, key: str, **params: Any) -> str:
        return render_for(key, self.language, self.agency, self.call, **params)

    def say(self, key: str, **params: Any) -> None:
        self.responses.append({"text": self.render(key, **params)})

    def flag(self, kind: str, text: str) -> Flag:
        flag = Flag(
            kind=kind,
            text=text,
            call=self.call,
            caller_id=self.caller.id if self.caller else None,
            message_id=self.message.id if self.message else None,
        )
        self.session.add(flag)
        return flag

    @property
    def answered_by_fast_path(self) -> bool:
        """The webhook already told the caller to call 911 for this very message."""
        return emergency.already_answered(self.session, self.message)


Handler = Callable[[ActionContext], None]
ACTIONS: dict[str, Handler] = {}


def action(name: str, needs_call: bool = False) -> Callable[[Handler], Handler]:
    """Registers a handler; `needs_call` ones answer `no_call_on_file` without a call."""

    def register(fn: Handler) -> Handler:
        def run(ctx: ActionContext) -> None:
            if needs_call and ctx.call is None:
                ctx.say("no_call_on_file")
                return
            fn(ctx)

        ACTIONS[name] = run
        return fn

    return register


# --- small talk -----------------------------------------------------------------------


@action("action_greet")
def greet(ctx: ActionContext) -> None:
    ctx.say("greet" if ctx.call else "no_call_on_file")


@action("action_goodbye", needs_call=True)
def goodbye(ctx: ActionContext) -> None:
    ctx.say("goodbye")


@action("action_thank", needs_call=True)
def thank(ctx: ActionContext) -> None:
    ctx.say("thank")


@action("action_acknowledge", needs_call=True)
def acknowledge(ctx: ActionContext) -> None:
    ctx.say("acknowledge")


# --- the call and the case ------------------------------------------------------------


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite drops the zone


def status_key(call: Call, agency: Agency | None = None) -> str:
    """The response key describing where the call stands now."""
    if call.state == "closed":
        if call.disposition == "report_taken" and call.case_number:
            return "status_closed_report_taken"
        if call.disposition and call.disposition != "report_taken":
            return f"status_closed_{call.disposition}"
        return "status_closed"
    if call.diverted and call.state == "assigned":
        return "status_diverted"
    if call.state == "received" and agency is not None:
        waited = datetime.now(UTC) - _aware(call.created_at)
        default = runtime.current().settings.delay_notice_after
        if waited >= agency.delay_for(call.priority, default):
            return "status_delayed"
    return f"status_{call.state}"


@action("action_answer_status", needs_call=True)
def answer_status(ctx: ActionContext) -> None:
    assert ctx.call is not None
    key = status_key(ctx.call, ctx.agency)
    try:
        ctx.say(key)
    except KeyError:  # a disposition this version has no words for
        ctx.say("status_closed")


@action("action_answer_case_number", needs_call=True)
def answer_case_number(ctx: ActionContext) -> None:
    assert ctx.call is not None
    if ctx.call.case_number:
        ctx.say("case_number_given")
    elif ctx.call.state == "closed":
        ctx.say("case_number_none")
    else:
        ctx.say("case_number_pending")


CASE_STATUSES = ("report_approved", "assigned_detective", "suspect_arrested", "closed")


@action("action_answer_case_status", needs_call=True)
def answer_case_status(ctx: ActionContext) -> None:
    call = ctx.call
    assert call is not None
    if not call.case_number:
        answer_case_number(ctx)
    elif call.case_status in CASE_STATUSES:
        ctx.say(f"case_status_{call.case_status}")
    else:
        ctx.say("case_status_open")


# --- what the caller tells us ---------------------------------------------------------


@action("action_record_info", needs_call=True)
def record_info(ctx: ActionContext) -> None:
    assert ctx.call is not None
    ctx.flag("add_info", ctx.text)
    ctx.say("info_call_closed" if ctx.call.state == "closed" else "info_recorded")


@action("action_relay_cancel_request", needs_call=True)
def relay_cancel_request(ctx: ActionContext) -> None:
    assert ctx.call is not None
    if ctx.call.state == "closed":
        ctx.say("cancel_call_closed")
        return
    ctx.flag("cancel_request", f"The caller says they no longer need police: {ctx.text}")
    ctx.say("cancel_relayed")


@action("action_emergency")
def emergency_reply(ctx: ActionContext) -> None:
    if ctx.answered_by_fast_path:
        return  # flagged and answered by the webhook already: no second 911 text
    ctx.flag("emergency", ctx.text)
    ctx.say("emergency")


@action("action_request_callback", needs_call=True)
def request_callback(ctx: ActionContext) -> None:
    ctx.flag("request_callback", ctx.text)
    ctx.say("callback_requested")


@action("action_record_feedback", needs_call=True)
def record_feedback(ctx: ActionContext) -> None:
    assert ctx.call is not None
    ratings.record(ctx.session, ctx.call, comment=ctx.text)
    if ratings.is_complaint(ctx.text):
        ctx.flag("complaint", ctx.text)
        ctx.say("complaint_recorded")
    else:
        ctx.say("feedback_recorded")


# --- language, opting out, honesty, fallbacks -----------------------------------------

_LANGUAGE_NAMES = {
    "en": "en", "eng": "en", "english": "en", "ingles": "en", "inglish": "en",
    "es": "es", "esp": "es", "spanish": "es", "espanol": "es", "castellano": "es",
}  # fmt: skip
_NEGATED = re.compile(
    r"\b(no|dont|don't|do not|cant|can't|cannot|not)\b.{0,20}"
    r"\b(hablo|entiendo|leo|se|speak|understand|read|know)\b"
)


def target_language(ctx: ActionContext) -> str:
    """The language the caller asks for ("english please", "no hablo inglés")."""
    folded = ratings.fold(ctx.text)
    named = [
        _LANGUAGE_NAMES[word]
        for word in re.findall(r"[a-z]+", ratings.fold(str(ctx.entity("language") or "")))
        + re.findall(r"[a-z]+", folded)
        if word in _LANGUAGE_NAMES and len(word) > 2
    ]
    current = ctx.language
    if not named:
        return "es" if current == "en" else "en"
    wanted = named[0]
    if _NEGATED.search(folded):  # "I don't speak English": the other one
        wanted = "es" if wanted == "en" else "en"
    return wanted


@action("action_change_language")
def change_language(ctx: ActionContext) -> None:
    language = target_language(ctx)
    if ctx.caller is not None:
        ctx.caller.language = language
        ctx.caller.language_known = True
    if ctx.conversation is not None:
        ctx.conversation.language = language
    ctx.language = language
    ctx.say("language_changed")


@action("action_opt_out")
def opt_out(ctx: ActionContext) -> None:
    """Words that mean STOP are STOP: opted out at once, one confirmation (as compliance)."""
    if ctx.caller is None:
        return
    ctx.outbound += compliance.answer(
        ctx.session, compliance.Keyword.STOP, ctx.caller, ctx.call, ctx.agency, ctx.language
    )


@action("action_bot_challenge")
def bot_challenge(ctx: ActionContext) -> None:
    ctx.say("bot_challenge")


@action("action_out_of_scope")
def out_of_scope(ctx: ActionContext) -> None:
    if not ctx.answered_by_fast_path:
        ctx.say("out_of_scope" if ctx.call else "no_call_on_file")


@action("action_clarify")
def clarify(ctx: ActionContext) -> None:
    if not ctx.answered_by_fast_path:
        ctx.say("clarify")


@action("action_default_fallback")
def default_fallback(ctx: ActionContext) -> None:
    clarify(ctx)
    # As Rasa's own fallback does: forget the message, so the dialogue carries on as before.
    ctx.events.append({"event": "rewind", "timestamp": None})


# --- the feedback form ----------------------------------------------------------------


def slots_to_validate(tracker: dict[str, Any]) -> dict[str, Any]:
    """The slot candidates the engine appended for validation (as rasa_sdk reads them)."""
    events = tracker.get("events") or []
    trailing: list[dict[str, Any]] = []
    for event in reversed(events):
        if event.get("event") != "slot":
            break
        trailing.append(event)
    return {e["name"]: e.get("value") for e in reversed(trailing)}


def _events_of_this_form(tracker: dict[str, Any]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = tracker.get("events") or []
    starts = [
        i for i, e in enumerate(events) if e.get("event") == "active_loop" and e.get("name") == FORM
    ]
    return events[starts[-1] :] if starts else events


def rejections(tracker: dict[str, Any], slot: str) -> int:
    """How many answers to `slot` this form already turned down."""
    return sum(
        1
        for e in _events_of_this_form(tracker)
        if e.get("event") == "slot" and e.get("name") == slot and e.get("value") is None
    )


def just_rejected(tracker: dict[str, Any], slot: str) -> bool:
    """True when the caller's latest answer to `slot` was turned down (ask again)."""
    events = tracker.get("events") or []
    for event in reversed(events):
        if event.get("event") == "user":
            return False
        if event.get("event") == "slot" and event.get("name") == slot:
            return event.get("value") is None
    return False


def _validated_rating(ctx: ActionContext, slot: str, value: Any) -> Any:
    if (isinstance(value, int) and 1 <= value <= 5) or value == ratings.SKIPPED:
        return value
    text = str(value or "")
    if ratings.is_skip(text):
        return ratings.SKIPPED
    rating = ratings.parse_rating(text)
    if rating is None and ctx.intent == "give_rating" and ctx.entity("rating") is not None:
        rating = ratings.parse_rating(str(ctx.entity("rating")))
    if rating is not None:
        return rating
    # Re-ask once; a second answer that is not a rating moves the form on.
    return ratings.SKIPPED if rejections(ctx.tracker, slot) >= 1 else None


def _validated_comment(value: Any) -> Any:
    text = str(value or "").strip()
    if not text or value == ratings.SKIPPED or ratings.is_skip(text):
        return ratings.SKIPPED
    return text


@action("validate_feedback_form")
def validate_feedback_form(ctx: ActionContext) -> None:
    candidates = slots_to_validate(ctx.tracker)
    for slot in FORM_SLOTS:
        if slot not in candidates:
            continue
        value = candidates[slot]
        if slot in RATING_SLOTS:
            ctx.set_slot(slot, _validated_rating(ctx, slot, value))
        else:
            ctx.set_slot(slot, _validated_comment(value))
    # No officer was ever sent (e.g. cancelled before dispatch): nobody to rate.
    if (
        "call_taker_rating" in candidates
        and ctx.call is not None
        and ctx.call.unit_id is None
        and ctx.slot("officer_rating") is None
    ):
        ctx.set_slot("officer_rating", ratings.SKIPPED)


def _ask(ctx: ActionContext, slot: str, key: str) -> None:
    ctx.say("ask_rating_again" if just_rejected(ctx.tracker, slot) else key)


@action("action_ask_call_taker_rating")
def ask_call_taker_rating(ctx: ActionContext) -> None:
    _ask(ctx, "call_taker_rating", "ask_call_taker_rating")


@action("action_ask_officer_rating")
def ask_officer_rating(ctx: ActionContext) -> None:
    _ask(ctx, "officer_rating", "ask_officer_rating")


@action("action_ask_feedback_comment")
def ask_feedback_comment(ctx: ActionContext) -> None:
    ctx.say("ask_feedback_comment")


def _rating_value(value: Any) -> int | None:
    return value if isinstance(value, int) and 1 <= value <= 5 else None


@action("action_submit_feedback", needs_call=True)
def submit_feedback(ctx: ActionContext) -> None:
    assert ctx.call is not None
    comment = ctx.slot(COMMENT_SLOT)
    comment = comment if isinstance(comment, str) and comment != ratings.SKIPPED else None
    ratings.record(
        ctx.session,
        ctx.call,
        call_taker=_rating_value(ctx.slot("call_taker_rating")),
        officer=_rating_value(ctx.slot("officer_rating")),
        comment=comment,
    )
    if comment and ratings.is_complaint(comment):
        ctx.flag("complaint", comment)
    ctx.say("feedback_thanks")
    for slot in FORM_SLOTS:  # a later survey (of another call) starts empty
        ctx.set_slot(slot, None)


# --- the endpoint's entry point -------------------------------------------------------


def run(payload: dict[str, Any]) -> dict[str, Any]:
    """Runs `payload["next_action"]`; returns the action server's answer."""
    name = payload.get("next_action")
    tracker = payload.get("tracker")
    if not isinstance(name, str) or not isinstance(tracker, dict):
        raise ActionError("next_action and tracker are required")
    handler = ACTIONS.get(name)
    if handler is None:
        raise UnknownAction(name)
    ctx = _context(tracker, payload.get("sender_id"))
    handler(ctx)
    ctx.session.commit()
    outbox.dispatch(ctx.outbound)
    return {"events": ctx.events, "responses": ctx.responses}


def _context(tracker: dict[str, Any], sender_id: Any = None) -> ActionContext:
    s = db.session()
    metadata = (tracker.get("latest_message") or {}).get("metadata") or {}
    sender = str(sender_id or tracker.get("sender_id") or "")
    conversation = (
        s.scalars(select(Conversation).filter_by(sender_id=sender)).one_or_none()
        if sender
        else None
    )
    call = None
    if metadata.get("call_id"):
        call = s.scalars(select(Call).filter_by(cad_id=str(metadata["call_id"]))).one_or_none()
    if call is None and conversation is not None:
        call = conversation.call
    message = None
    if isinstance(metadata.get("message_id"), int):
        message = s.get(Message, metadata["message_id"])
    caller = (
        (message.caller if message else None)
        or (conversation.caller if conversation else None)
        or (call.caller if call else None)
    )
    # The conversation's language is the turn's (the worker sets it before the engine runs)
    # or the one the caller switched to since; the metadata only for trackers without one.
    language = (
        conversation.language
        if conversation is not None
        else str(metadata.get("language") or (caller.language if caller else "en"))
    )
    if message is not None:
        intent = (tracker.get("latest_message") or {}).get("intent") or {}
        if intent.get("name"):
            message.intent = intent.get("name")
            message.confidence = intent.get("confidence")
    return ActionContext(
        session=s,
        tracker=tracker,
        agency=agency_for(call),
        language=language,
        call=call,
        caller=caller,
        message=message,
        conversation=conversation,
    )
