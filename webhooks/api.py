"""`/api/v1/*`: the integrators' API (bearer token)."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from bot import calls
from bot.engine import EngineUnavailable
from bot.models import Call, Message
from nlu import language as lang
from webhooks import openapi
from webhooks.errors import ApiError

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.before_request
def require_token() -> None:
    if request.endpoint == "api.openapi_document":
        return  # the API's description is public, like any integrator's documentation
    expected = current_app.extensions["tenfour"].settings.admin_api_token
    given = request.headers.get("Authorization", "")
    if not given.startswith("Bearer "):
        raise ApiError(401, "unauthorized", "a bearer token is required")
    if not expected or not hmac.compare_digest(given[7:].encode(), expected.encode()):
        raise ApiError(403, "forbidden", "the bearer token is not valid")


@bp.post("/parse")
def parse() -> Any:
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise ApiError(400, "malformed", "expected a JSON object")
    text, previous = payload.get("text"), payload.get("previous_language", "en")
    errors = []
    if not isinstance(text, str) or not text.strip():
        errors.append({"field": "text", "message": "a non-empty string is required"})
    if previous not in lang.LANGUAGES:
        errors.append({"field": "previous_language", "message": "must be 'en' or 'es'"})
    if errors:
        raise ApiError(422, "invalid", "invalid fields", errors)
    engine = current_app.extensions["tenfour"].engine
    try:
        parsed = engine.parse(text)
    except EngineUnavailable as exc:
        raise ApiError(503, "engine_unavailable", str(exc)) from exc
    intent = parsed.get("intent") or {}
    return jsonify(
        {
            "intent": {"name": intent.get("name"), "confidence": intent.get("confidence")},
            "entities": parsed.get("entities", []),
            "language": lang.detect(str(text), str(previous)),
        }
    )


@bp.get("/openapi.json")
def openapi_document() -> Any:
    return jsonify(openapi.document())


@bp.get("/calls/<call_id>")
def get_call(call_id: str) -> Any:
    call = calls.find(call_id)
    if call is None:
        raise ApiError(404, "not_found", f"no call {call_id!r}")
    return jsonify(call_record(call))


def _timestamp(moment: datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite drops the zone
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _message(m: Message) -> dict[str, Any]:
    if m.direction == "inbound":
        return {
            "direction": "inbound", "channel": m.channel, "body": m.body, "intent": m.intent,
            "language": m.language, "created_at": _timestamp(m.created_at),
        }  # fmt: skip
    return {
        "direction": "outbound", "channel": m.channel, "kind": m.kind, "language": m.language,
        "body": m.body, "status": m.status, "created_at": _timestamp(m.created_at),
    }  # fmt: skip


def call_record(call: Call) -> dict[str, Any]:
    """CONTRACTS.md §4 (plus the case number and status)."""
    rating = call.rating
    return {
        "call": {
            "id": call.cad_id,
            "type_code": call.type_code,
            "priority": call.priority,
            "state": call.state,
            "language": call.caller.language if call.caller else "en",
            "suppressed": call.suppressed,
            "case_number": call.case_number,
            "case_status": call.case_status,
        },
        "messages": [_message(m) for m in call.messages],
        "ratings": {
            "call_taker": rating.call_taker if rating else None,
            "officer": rating.officer if rating else None,
            "comment": rating.comment if rating else None,
        },
        "flags": [
            {"kind": f.kind, "text": f.text, "created_at": _timestamp(f.created_at)}
            for f in call.flags
        ],
    }
