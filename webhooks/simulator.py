"""`/simulator`: a phone in the browser, only with the console SMS backend.

What a person types goes through the same pipeline as a real text from Twilio
(`conversations.record_inbound`, the worker, the engine); the phone shows what the
outbox recorded for that number.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, jsonify, render_template, request
from sqlalchemy import select

from bot import conversations, db
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
