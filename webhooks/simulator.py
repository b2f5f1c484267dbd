"""`/simulator`: a phone in the browser, only with the console SMS backend.

What a person types goes through the same pipeline as a real text from Twilio
(`conversations.record_inbound`, the worker, the engine); the phone shows what the
outbox recorded for that number.

The dispatcher panel beside it plays the CAD: each button builds a CAD event, signs it
with CAD_WEBHOOK_SECRET and posts it to the public `/webhooks/cad/events` (in-process,
through the app's test client), so it is validated, de-duplicated and applied exactly as
one from a real CAD; the phone then shows the texts it caused.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, request
from sqlalchemy import select

from bot import cad, conversations, db
from bot.models import Caller, Message
from bot.phones import InvalidPhone, normalize
from webhooks.errors import ApiError

bp = Blueprint("simulator", __name__, url_prefix="/simulator")


@bp.get("")
def page() -> str:
    return render_template("simulator.html")


def _phone(raw: Any) -> str:
    try:
        return normalize(str(raw or ""))
    except InvalidPhone as exc:
        raise ApiError(422, "invalid", str(exc), [{"field": "phone", "message": str(exc)}]) from exc


@bp.post("/send")
def send() -> Any:
    payload = request.get_json(silent=True) or {}
    phone = _phone(payload.get("phone"))
    text = str(payload.get("text") or "")
    sid = "SM" + uuid.uuid4().hex
    conversations.record_inbound(sid, phone, text)
    return jsonify({"status": "accepted", "sid": sid}), 202


@bp.get("/thread")
def thread() -> Any:
    phone = _phone(request.args.get("phone"))
    s = db.session()
    caller = s.scalars(select(Caller).filter_by(phone=phone)).one_or_none()
    if caller is None:
        return jsonify({"messages": []})
    rows = s.scalars(
        select(Message).filter_by(caller_id=caller.id).order_by(Message.id).limit(500)
    ).all()
    return jsonify(
        {
            "messages": [
                {
                    "id": m.id,
                    "direction": m.direction,
                    "body": m.body,
                    "kind": m.kind,
                    "status": m.status,
                    "intent": m.intent,
                    "language": m.language,
                }
                for m in rows
            ]
        }
    )


# What each dispatcher button sends, by CAD event type.
ACTIONS = {
    "create": "call.created",
    "update": "call.updated",
    "assign": "unit.assigned",
    "enroute": "unit.enroute",
    "divert": "unit.diverted",
    "arrive": "unit.arrived",
    "close": "call.closed",
    "case": "case.updated",
}


def _text(payload: dict[str, Any], name: str) -> str | None:
    value = str(payload.get(name) or "").strip()
    return value or None


def _priority(payload: dict[str, Any]) -> int | None:
    value = _text(payload, "priority")
    return int(value) if value and value.isdigit() else None


def dispatcher_event(action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The CAD event the dispatcher's button `action` stands for (CONTRACTS.md §3)."""
    if action not in ACTIONS:
        problem = {"field": "action", "message": f"one of {', '.join(ACTIONS)}"}
        raise ApiError(422, "invalid", f"unknown action {action!r}", [problem])
    call_id = _text(payload, "call_id")
    if call_id is None and action != "create":
        problem = {"field": "call_id", "message": "is required"}
        raise ApiError(422, "invalid", "create a call first", [problem])
    call: dict[str, Any] = {"id": call_id or f"SIM-26-{random.randint(0, 999999):06d}"}
    event: dict[str, Any] = {
        "event_id": f"sim-{uuid.uuid4().hex}",
        "type": ACTIONS[action],
        "occurred_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "call": call,
    }
    if action in ("create", "update"):
        if _text(payload, "type_code"):
            call["type_code"] = str(_text(payload, "type_code")).upper()
        if _priority(payload) is not None:
            call["priority"] = _priority(payload)
    if action == "create":
        event["caller"] = {
            "phone": _phone(payload.get("phone")),
            "email": None,
            "language": _text(payload, "language"),
            "name": None,
        }
    if action in ("assign", "enroute", "divert", "arrive"):
        officer = {"name": _text(payload, "officer_name"), "badge": _text(payload, "badge")}
        event["unit"] = {"id": _text(payload, "unit_id") or "2A31", "officer": officer}
    if action == "close":
        event["disposition"] = _text(payload, "disposition") or "advised"
        if _text(payload, "case_number"):
            event["case"] = {"number": _text(payload, "case_number")}
    if action == "case":
        event["case"] = {
            "number": _text(payload, "case_number"),
            "status": _text(payload, "case_status"),
            "detective": _text(payload, "detective"),
        }
    return event


@bp.post("/cad")
def dispatch_event() -> Any:
    """One dispatcher button: a real signed CAD event through the public endpoint."""
    payload = request.get_json(silent=True) or {}
    event = dispatcher_event(str(payload.get("action") or ""), payload)
    secret = current_app.extensions["tenfour"].settings.cad_webhook_secret
    if not secret:
        raise ApiError(503, "not_configured", "CAD_WEBHOOK_SECRET is not configured")
    body = json.dumps(event).encode()
    headers = {"Content-Type": "application/json", "X-TenFour-Signature": cad.sign(secret, body)}
    answer = current_app.test_client().post("/webhooks/cad/events", data=body, headers=headers)
    return jsonify(
        {"event": event, "status": answer.status_code, "answer": answer.get_json(silent=True)}
    ), answer.status_code
