"""Delivery channels: each provider is a small plug-in behind one interface.

`send()` returns the provider's id for the message, or raises:

    ChannelError
     ├── TemporaryError       the provider surely did not take it (connection refused, HTTP
     │                        429/5xx, Twilio 20429, SMTP 4xx): retry with backoff
     ├── OutcomeUnknownError  the request went out but no answer came back (read timeout,
     │                        connection dropped): it may have been sent, so never retried
     └── PermanentError       the provider refused this message for good: never retried
          ├── OptedOutError      (Twilio 21610) the caller replied STOP at the carrier
          └── UnreachableError   (21211, 21614, 30006) not a number that can get texts
"""

from __future__ import annotations

from typing import Protocol

import requests

from bot.config import Settings


class ChannelError(Exception):
    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class TemporaryError(ChannelError):
    pass


class OutcomeUnknownError(ChannelError):
    pass


class PermanentError(ChannelError):
    pass


class OptedOutError(PermanentError):
    pass


class UnreachableError(PermanentError):
    pass


class Channel(Protocol):
    name: str
    # True when `send()` returning means delivered (console, email handed to the relay);
    # False when the provider reports delivery later (Twilio's status callbacks).
    delivers_immediately: bool

    def send(
        self, to: str, body: str, *, subject: str | None = None, reference: int | None = None
    ) -> str:
        """Delivers `body` to `to`; returns the provider's message id.

        `reference` is the outbox message id, handed back by delivery reports.
        """
        ...


def build_channels(settings: Settings, http: requests.Session) -> dict[str, Channel]:
    """The channels the settings enable: `sms` always, `email` when SMTP_URL is set."""
    from bot.channels.console import ConsoleChannel

    channels: dict[str, Channel] = {}
    if settings.sms_backend == "twilio":
        from bot.channels.twilio_sms import TwilioSmsChannel

        channels["sms"] = TwilioSmsChannel(settings)
    else:
        channels["sms"] = ConsoleChannel("sms")
    if settings.smtp_url:
        from bot.channels.email import EmailChannel

        channels["email"] = EmailChannel(settings.smtp_url, sender=settings.email_from)
    return channels
