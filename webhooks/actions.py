"""`POST /rasa/actions`: the engine's custom actions (Rasa action server protocol)."""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from bot import actions
from webhooks.errors import ApiError

bp = Blueprint("rasa_actions", __name__)


@bp.post("/rasa/actions")
def run_action() -> Any:
    token = current_app.extensions["tenfour"].settings.rasa_token
    given = request.args.get("token") or request.headers.get("Authorization", "").removeprefix(
        "Bearer "
    )
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise ApiError(401, "unauthorized", "a valid RASA_TOKEN is required")
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise ApiError(400, "malformed", "expected a JSON object")
    try:
        result = actions.run(payload)
    except actions.UnknownAction as exc:
        return jsonify(
            {
                "error": f"No registered action found for name '{exc.args[0]}'.",
                "action_name": exc.args[0],
            }
        ), 404
    except actions.ActionError as exc:
        raise ApiError(400, "malformed", str(exc)) from exc
    return jsonify(result)
