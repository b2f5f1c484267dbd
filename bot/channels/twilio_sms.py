"""SMS through the real `twilio` library. `TWILIO_API_BASE_URL` redirects its REST calls.

Errors are sorted by what they say about the message (see `bot.channels`): Twilio's error
code first, then the HTTP status, then whether the request can have reached Twilio at all.
"""

from __future__ import annotations

from urllib.parse import urlencode

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.exceptions import SSLError as Urllib3SSLError

from bot.channels import (
    ChannelError,
    OptedOutError,
    OutcomeUnknownError,
    PermanentError,
    TemporaryError,
    UnreachableError,
)
from bot.config import Settings

OPTED_OUT_CODES = {21610}  # the recipient replied STOP to our number
UNREACHABLE_CODES = {21211, 21614, 30006}  # invalid number, not a mobile, landline/unreachable
TEMPORARY_CODES = {20429}  # too many requests
REQUEST_TIMEOUT_SECONDS = 15.0


class TwilioSmsChannel:
    name = "sms"
    delivers_immediately = False

    def __init__(self, settings: Settings) -> None:
        self.client = Client(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            http_client=TwilioHttpClient(timeout=REQUEST_TIMEOUT_SECONDS),
        )
        if settings.twilio_api_base_url:
            self.client.api.base_url = settings.twilio_api_base_url.rstrip("/")
        self.messaging_service_sid = settings.twilio_messaging_service_sid
        self.from_number = settings.twilio_from_number
        self.status_callback = (
            f"{settings.public_base_url}/webhooks/twilio/status"
            if settings.public_base_url
            else None
        )

    def send(
        self, to: str, body: str, *, subject: str | None = None, reference: int | None = None
    ) -> str:
        kwargs: dict[str, str] = {"to": to, "body": body}
        if self.messaging_service_sid:
            kwargs["messaging_service_sid"] = self.messaging_service_sid
        else:
            kwargs["from_"] = self.from_number or ""
        if self.status_callback:
            # The outbox id lets a report that races ahead of our own commit find its message.
            query = f"?{urlencode({'message_id': reference})}" if reference is not None else ""
            kwargs["status_callback"] = self.status_callback + query
        try:
            message = self.client.messages.create(**kwargs)
        except TwilioRestException as exc:
            raise classify(exc.status, exc.code, exc.msg) from exc
        except TwilioServiceException as exc:
            raise classify(exc.status, exc.code, exc.detail or exc.title) from exc
        except requests.RequestException as exc:
            raise network_error(exc) from exc
        except TwilioException as exc:
            raise OutcomeUnknownError(f"twilio: {exc}") from exc
        return str(message.sid)


def classify(status: int, code: object, text: str) -> ChannelError:
    """A Twilio error answer → the channel error saying what to do about it."""
    number = code if isinstance(code, int) else None
    label = str(number or status)
    message = f"twilio error {label} (HTTP {status}): {text}"
    if number in OPTED_OUT_CODES:
        return OptedOutError(message, label)
    if number in UNREACHABLE_CODES:
        return UnreachableError(message, label)
    if number in TEMPORARY_CODES or status == 429 or status >= 500:
        return TemporaryError(message, label)
    return PermanentError(message, label)


def network_error(exc: requests.RequestException) -> ChannelError:
    """Retry only what cannot have reached Twilio: a connection that was never made."""
    reason = getattr(exc.args[0], "reason", exc.args[0]) if exc.args else None
    never_connected = isinstance(exc, requests.ConnectTimeout) or isinstance(
        reason, NewConnectionError | ConnectTimeoutError | Urllib3SSLError
    )
    if never_connected:
        return TemporaryError(f"twilio unreachable: {type(reason or exc).__name__}", "network")
    return OutcomeUnknownError(f"twilio did not answer: {type(exc).__name__}", "no-answer")
