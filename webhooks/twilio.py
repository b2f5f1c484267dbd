"""Twilio's webhooks: inbound texts and delivery reports. Translation from HTTP only."""

from __future__ import annotations

from xml.sax.saxutils import escape

from flask import Blueprint, Response, abort, current_app, request
from twilio.request_validator import RequestValidator

from bot import conversations, outbox
from bot.phones import InvalidPhone

bp = Blueprint("twilio", __name__, url_prefix="/webhooks/twilio")

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _twiml(reply: str | None = None) -> Response:
    if reply is None:
        return Response(EMPTY_TWIML, mimetype="text/xml")
    body = f"<Response><Message>{escape(reply)}</Message></Response>"
    return Response('<?xml version="1.0" encoding="UTF-8"?>' + body, mimetype="text/xml")


def _check_signature() -> None:
    settings = current_app.extensions["tenfour"].settings
    if not settings.twilio_auth_token:
        abort(503, "TWILIO_AUTH_TOKEN is not configured")
    url = request.url
    if settings.public_base_url:
        url = settings.public_base_url + request.full_path.rstrip("?")
    signature = request.headers.get("X-Twilio-Signature", "")
    if not RequestValidator(settings.twilio_auth_token).validate(url, request.form, signature):
        abort(403)


@bp.post("/sms")
def inbound_sms() -> Response:
    _check_signature()
    form = request.form
    sid, sender = form.get("MessageSid"), form.get("From")
    if not sid or not sender:
        abort(400)
    try:
        media_count = int(form.get("NumMedia") or 0)
        # Media URLs (MediaUrl0...) are never fetched: only their count is kept.
        inbound = conversations.record_inbound(sid, sender, form.get("Body", ""), media_count)
    except (InvalidPhone, ValueError):
        abort(400)
    # A text that signals danger is answered right here ("call 911"), ahead of any queue.
    return _twiml(inbound.reply if inbound else None)


@bp.post("/status")
def status_callback() -> Response:
    _check_signature()
    sid, status = request.form.get("MessageSid"), request.form.get("MessageStatus")
    if not sid or not status:
        abort(400)
    # Our outbox id, which the status callback URL carries (see bot.channels.twilio_sms).
    message_id = request.args.get("message_id", type=int)
    outbox.apply_status_callback(sid, status, request.form.get("ErrorCode"), message_id)
    return _twiml()
