"""SMS through the real `twilio` library. `TWILIO_API_BASE_URL` redirects its REST calls."""

from __future__ import annotations

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from bot.channels import OptedOutError, PermanentError, TemporaryError, UnreachableError
from bot.config import Settings

OPTED_OUT_CODES = {21610}
UNREACHABLE_CODES = {21211, 21614, 30006}
TEMPORARY_CODES = {20429}


class TwilioSmsChannel:
    name = "sms"
    delivers_immediately = False

    def __init__(self, settings: Settings) -> None:
        self.client = Client(settings.twilio_account_sid, settings.twilio_auth_token)
        if settings.twilio_api_base_url:
            self.client.api.base_url = settings.twilio_api_base_url.rstrip("/")
        self.messaging_service_sid = settings.twilio_messaging_service_sid
        self.from_number = settings.twilio_from_number
        self.status_callback = (
            f"{settings.public_base_url}/webhooks/twilio/status"
            if settings.public_base_url
            else None
        )

    def send(self, to: str, body: str, *, subject: str | None = None) -> str:
        kwargs: dict[str, str] = {"to": to, "body": body}
        if self.messaging_service_sid:
            kwargs["messaging_service_sid"] = self.messaging_service_sid
        else:
            kwargs["from_"] = self.from_number or ""
        if self.status_callback:
            kwargs["status_callback"] = self.status_callback
        try:
            message = self.client.messages.create(**kwargs)
        except TwilioRestException as exc:
            raise classify(exc) from exc
        except (requests.RequestException, TwilioException) as exc:
            raise TemporaryError(f"twilio unreachable: {exc}") from exc
        return str(message.sid)


def classify(exc: TwilioRestException) -> Exception:
    code = exc.code if isinstance(exc.code, int) else None
    text = f"twilio {exc.status} {code}: {exc.msg}"
    if code in OPTED_OUT_CODES:
        return OptedOutError(text, str(code))
    if code in UNREACHABLE_CODES:
        return UnreachableError(text, str(code))
    if code in TEMPORARY_CODES or exc.status == 429 or exc.status >= 500:
        return TemporaryError(text, str(code or exc.status))
    return PermanentError(text, str(code or exc.status))
