"""`POST /webhooks/cad/events`: signed CAD events (CONTRACTS.md §3). Translation from HTTP only."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from bot import cad, calls
from webhooks.errors import ApiError

bp = Blueprint("cad", __name__, url_prefix="/webhooks/cad")


@bp.post("/events")
def events() -> Any:
    secret = current_app.extensions["tenfour"].settings.cad_webhook_secret
    if not secret:
        raise ApiError(503, "not_configured", "CAD_WEBHOOK_SECRET is not configured")
    if request.content_length is not None and request.content_length > cad.MAX_BODY_BYTES:
        raise ApiError(413, "too_large", f"an event may be at most {cad.MAX_BODY_BYTES} bytes")
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the event as application/json")
    request.max_content_length = cad.MAX_BODY_BYTES  # also bounds bodies sent without a length
    body = request.get_data(cache=True)
    signature = request.headers.get("X-TenFour-Signature", "")
    if not cad.signature_valid(secret, signature, body):
        raise ApiError(401, "bad_signature", "X-TenFour-Signature is missing, wrong or stale")
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "malformed", f"the body is not valid JSON: {exc}") from exc
    try:
        event = cad.parse(payload)
    except cad.InvalidEvent as exc:
        raise ApiError(422, "invalid", "the event has invalid fields", exc.fields) from exc
    if calls.receive(event) == calls.DUPLICATE:
        return jsonify({"status": "duplicate", "event_id": event.event_id}), 200
    return jsonify({"status": "accepted", "event_id": event.event_id}), 202
