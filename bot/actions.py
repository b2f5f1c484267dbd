"""The engine's custom actions, served by the app at `POST /rasa/actions`.

This speaks the Rasa action server protocol (what rasa_sdk serves), so the engine needs
no action server of its own: it posts `{"next_action", "sender_id", "tracker", "domain"}`
and gets back `{"events": [...], "responses": [{"text": ...}]}`. Every text comes from
`responses/`, in the language the worker decided for this turn (the message metadata).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import db, runtime
from bot.config import Agency
from bot.models import Call, Caller, Flag, Message
from responses import render


class UnknownAction(LookupError):
    pass


class ActionError(ValueError):
    """The request was not a valid action call."""


@dataclass
class ActionContext:
    session: Session
    tracker: dict[str, Any]
    agency: Agency
    language: str
    call: Call | None
    caller: Caller | None
    message: Message | None
    events: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def latest(self) -> dict[str, Any]:
        return self.tracker.get("latest_message") or {}

    @property
    def text(self) -> str:
        return str(self.latest.get("text") or "")

    @property
    def intent(self) -> str | None:
        return (self.latest.get("intent") or {}).get("name")

    def slot(self, name: str) -> Any:
        return (self.tracker.get("slots") or {}).get(name)

    def set_slot(self, name: str, value: Any) -> None:
        self.events.append({"event": "slot", "timestamp": None, "name": name, "value": value})

    def render(self, key: str, **params: Any) -> str:
        defaults = {
            "agency_name": self.agency.name,
            "non_emergency_number": self.agency.non_emergency_number,
            "call_number": self.call.cad_id if self.call else "",
        }
        return render(key, self.language, self.agency.overrides, **{**defaults, **params})

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


Handler = Callable[[ActionContext], None]
ACTIONS: dict[str, Handler] = {}


def action(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        ACTIONS[name] = fn
        return fn

    return register


def status_key(call: Call) -> str:
    """The response key describing where the call stands now."""
    if call.state == "closed":
        return "status_closed"
    if call.diverted and call.state == "assigned":
        return "status_diverted"
    return f"status_{call.state}"


@action("action_answer_status")
def answer_status(ctx: ActionContext) -> None:
    if ctx.call is None:
        ctx.say("no_call_on_file")
        return
    ctx.say(status_key(ctx.call))


@action("action_greet")
def greet(ctx: ActionContext) -> None:
    ctx.say("greet")


def run(payload: dict[str, Any]) -> dict[str, Any]:
    """Runs `payload["next_action"]`; returns the action server's answer."""
    name = payload.get("next_action")
    tracker = payload.get("tracker")
    if not isinstance(name, str) or not isinstance(tracker, dict):
        raise ActionError("next_action and tracker are required")
    handler = ACTIONS.get(name)
    if handler is None:
        raise UnknownAction(name)
    ctx = _context(tracker)
    handler(ctx)
    ctx.session.commit()
    return {"events": ctx.events, "responses": ctx.responses}


def _context(tracker: dict[str, Any]) -> ActionContext:
    s = db.session()
    settings = runtime.current().settings
    metadata = (tracker.get("latest_message") or {}).get("metadata") or {}
    call = None
    if metadata.get("call_id"):
        call = s.scalars(select(Call).filter_by(cad_id=str(metadata["call_id"]))).one_or_none()
    message = s.get(Message, metadata["message_id"]) if metadata.get("message_id") else None
    caller = message.caller if message else (call.caller if call else None)
    language = str(metadata.get("language") or (caller.language if caller else "en"))
    if message is not None:
        intent = (tracker.get("latest_message") or {}).get("intent") or {}
        message.intent = intent.get("name")
        message.confidence = intent.get("confidence")
    return ActionContext(
        session=s,
        tracker=tracker,
        agency=settings.agency(call.agency if call else None),
        language=language,
        call=call,
        caller=caller,
        message=message,
    )
