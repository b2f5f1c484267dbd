"""Builders for test data and signed requests."""

from __future__ import annotations

from typing import Any

from twilio.request_validator import RequestValidator

from bot import db
from bot.models import Call, Caller

TWILIO_AUTH_TOKEN = "test-twilio-auth-token"
_sid_counter = iter(range(1, 10**9))


def create_caller(phone: str = "+15415550123", language: str = "en", **kw: Any) -> Caller:
    caller = Caller(phone=phone, language=language, **kw)
    db.session.add(caller)
    db.session.commit()
    return caller


def create_call(caller: Caller, cad_id: str = "MPD-26-004512", **kw: Any) -> Call:
    values = {"type_code": "BURG", "priority": 3, "state": "received", **kw}
    call = Call(cad_id=cad_id, caller=caller, **values)
    db.session.add(call)
    db.session.commit()
    return call


def twilio_signature(url: str, form: dict[str, str], token: str = TWILIO_AUTH_TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, form))


def post_inbound_sms(
    client: Any, body: str, from_: str = "+15415550123", sid: str | None = None, **extra: str
) -> Any:
    """Posts a text to the webhook exactly as Twilio would, signed."""
    form = {
        "MessageSid": sid or f"SM{next(_sid_counter):032d}",
        "From": from_,
        "To": "+15415550100",
        "Body": body,
        "NumMedia": "0",
        **extra,
    }
    url = "http://localhost/webhooks/twilio/sms"
    return client.post(url, data=form, headers={"X-Twilio-Signature": twilio_signature(url, form)})
