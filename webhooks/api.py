"""`/api/v1/*`: the integrators' API (bearer token)."""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from bot.engine import EngineUnavailable
from nlu import language as lang
from webhooks.errors import ApiError

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.before_request
def require_token() -> None:
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
