"""Email through SMTP_URL, against a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from bot import db
from bot.models import Call, Caller
from tests.factories import create_call, create_caller, queue_outbound, reload_message
from tests.twilio_server import TwilioTestServer, twilio_settings

PHONE = "+15415550123"
EMAIL = "ana.lopez@example.org"
SENDER = "Medford Police <no-reply@medford.example>"

AGENCIES = """
default_agency: MPD
agencies:
  MPD:
    name: Medford Police
    non_emergency_number: "541-770-4783"
    preferred_channel: email
  APD:
    name: Ashland Police
    non_emergency_number: "541-482-5211"
    preferred_channel: sms
"""


class Mailbox:
    """An aiosmtpd handler that keeps what it accepts and refuses what it is told to."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refusals: list[str] = []  # replies to the next RCPTs, e.g. "451 4.7.1 try later"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refusals:
            return self.refusals.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SmtpServer:
    def __init__(self, port: int | None = None, **smtp_kwargs: Any) -> None:
        self.mailbox = Mailbox()
        self.running = False
        self.port = port or free_port()
        self.controller = Controller(
            self.mailbox, hostname="127.0.0.1", port=self.port, **smtp_kwargs
        )

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        self.running = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.running:
            self.controller.stop()
            self.running = False


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def settings_env(
    settings_env: dict[str, Any],
    twilio_server: TwilioTestServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
) -> dict[str, Any]:
    agencies = tmp_path / "agency.yml"
    agencies.write_text(AGENCIES)
    return {
        **settings_env,
        **twilio_settings(twilio_server),
        "SMTP_URL": f"smtp://127.0.0.1:{smtp_server.port}",
        "TENFOUR_EMAIL_FROM": SENDER,
        "TENFOUR_AGENCY_CONFIG": str(agencies),
        "TENFOUR_RETRY_BACKOFF": "0s",
    }


def test_agency_preferring_email_emails_a_caller_with_both(
    app, run_worker, twilio_server, smtp_server
):
    caller = create_caller(PHONE, language="es", email=EMAIL)
    call = create_call(caller, cad_id="MPD-26-004512", agency="MPD")
    message_id = queue_outbound(caller, call, "Recibimos su llamada MPD-26-004512.")

    run_worker()

    [mail] = smtp_server.mailbox.messages
    assert smtp_server.mailbox.envelopes == [("no-reply@medford.example", [EMAIL])]
    assert mail["To"] == EMAIL
    assert mail["From"] == SENDER
    assert mail["Subject"] == "Medford Police: su llamada MPD-26-004512"
    assert mail["Auto-Submitted"] == "auto-generated"
    body = mail.get_content()
    assert body.startswith("Recibimos su llamada MPD-26-004512.")
    assert "llame al 911" in body  # the footer, in the caller's language
    sent = reload_message(message_id)
    assert (sent.channel, sent.address, sent.status) == ("email", EMAIL, "delivered")
    assert sent.provider_sid is not None and sent.provider_sid in mail["Message-ID"]
    assert twilio_server.requests == 0


def test_agency_preferring_sms_texts_a_caller_with_both(
    app, run_worker, twilio_server, smtp_server
):
    caller = create_caller(PHONE, email=EMAIL)
    call = create_call(caller, cad_id="APD-26-000031", agency="APD")
    message_id = queue_outbound(caller, call, "We got your call APD-26-000031.")

    run_worker()

    assert [m["to"] for m in twilio_server.accepted] == [PHONE]
    assert smtp_server.mailbox.messages == []
    assert (reload_message(message_id).channel, reload_message(message_id).status) == (
        "sms",
        "sent",
    )


def test_caller_with_only_an_email_is_emailed(app, run_worker, twilio_server, smtp_server):
    caller = create_caller(None, email=EMAIL)
    call = create_call(caller, cad_id="APD-26-000032", agency="APD")
    queue_outbound(caller, call, "We got your call APD-26-000032.")

    run_worker()

    [mail] = smtp_server.mailbox.messages
    assert mail["Subject"] == "Ashland Police: your call APD-26-000032"
    assert twilio_server.requests == 0


def test_message_without_a_call_has_the_general_subject(app, run_worker, smtp_server):
    caller = create_caller(None, email=EMAIL)
    queue_outbound(caller, None, "You will not get more messages from us.")
    run_worker()
    [mail] = smtp_server.mailbox.messages
    assert mail["Subject"] == "A message from Medford Police"


def test_without_smtp_url_an_email_only_caller_gets_nothing(settings_env, run_worker):
    from webhooks import create_app

    settings_env["SMTP_URL"] = ""
    with create_app(settings_env).app_context():
        caller = create_caller(None, email="nobody.else@example.org")
        message_id = queue_outbound(caller, None, "Hello.")
        run_worker()
        assert reload_message(message_id).status == "suppressed"


def test_email_queued_before_smtp_was_switched_off_fails_cleanly(settings_env, run_worker):
    from webhooks import create_app

    caller = create_caller(None, email=EMAIL)
    message_id = queue_outbound(caller, None, "Hello.")  # queued while SMTP_URL was set
    with create_app({**settings_env, "SMTP_URL": ""}).app_context():
        run_worker()
        assert (reload_message(message_id).status, reload_message(message_id).error_code) == (
            "failed",
            "no-channel",
        )


def test_unreachable_number_falls_back_to_email(app, deliver_all, twilio_server, smtp_server):
    caller = create_caller(PHONE, email=EMAIL)
    call = create_call(caller, cad_id="APD-26-000040", agency="APD")
    twilio_server.reject(PHONE, 21614)  # not a mobile number
    first = queue_outbound(caller, call, "We got your call APD-26-000040.")

    deliver_all()

    assert (
        reload_message(first).channel,
        reload_message(first).status,
        reload_message(first).error_code,
    ) == (
        "sms",
        "failed",
        "21614",
    )
    caller, call = db.session.get_one(Caller, caller.id), db.session.get_one(Call, call.id)
    later = queue_outbound(caller, call, "An officer is assigned.")
    deliver_all()

    assert [m.get_content().splitlines()[0] for m in smtp_server.mailbox.messages] == [
        "We got your call APD-26-000040.",  # the text that did not reach the phone
        "An officer is assigned.",
    ]
    assert reload_message(later).channel == "email"
    assert twilio_server.requests == 1


def test_unreachable_number_without_email_gets_no_more_texts(
    app, deliver_all, twilio_server, smtp_server
):
    caller = create_caller(PHONE)
    twilio_server.reject(PHONE, 21211)
    queue_outbound(caller, None, "First.")
    deliver_all()
    later = queue_outbound(db.session.get_one(Caller, caller.id), None, "Second.")
    deliver_all()
    assert (reload_message(later).status, reload_message(later).error_code) == (
        "failed",
        "unreachable",
    )
    assert twilio_server.requests == 1
    assert smtp_server.mailbox.messages == []


def test_recipient_refused_for_good_is_not_retried(app, deliver_all, smtp_server):
    caller = create_caller(None, email=EMAIL)
    smtp_server.mailbox.refusals = [f"550 5.1.1 <{EMAIL}>: Recipient address rejected"]
    message_id = queue_outbound(caller, None, "Hello.")

    deliver_all()

    failed = reload_message(message_id)
    assert (failed.status, failed.error_code, failed.attempts) == ("failed", "550", 1)
    assert EMAIL not in (failed.error_message or "")
    assert smtp_server.mailbox.messages == []


def test_greylisting_is_retried(app, deliver_all, smtp_server):
    caller = create_caller(None, email=EMAIL)
    smtp_server.mailbox.refusals = ["451 4.7.1 Greylisted, try again later"]
    message_id = queue_outbound(caller, None, "Hello.")

    deliver_all()

    sent = reload_message(message_id)
    assert (sent.status, sent.attempts) == ("delivered", 2)
    assert len(smtp_server.mailbox.messages) == 1


def test_smtp_server_down_is_retried_until_it_is_back(app, run_worker, deliver_all, smtp_server):
    caller = create_caller(None, email=EMAIL)
    smtp_server.stop()
    message_id = queue_outbound(caller, None, "Hello.")

    run_worker()
    assert (reload_message(message_id).status, reload_message(message_id).error_code) == (
        "queued",
        "network",
    )

    with SmtpServer(port=smtp_server.port) as revived:
        deliver_all()
        assert len(revived.mailbox.messages) == 1
    assert reload_message(message_id).status == "delivered"


def test_credentials_in_smtp_url_are_used(settings_env, run_worker):
    from webhooks import create_app

    logins: list[tuple[str, str]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        assert isinstance(auth_data, LoginPassword)
        logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=auth_data.password == b"p@ss:word")

    with SmtpServer(authenticator=authenticator, auth_require_tls=False) as s:
        env = {**settings_env, "SMTP_URL": f"smtp://relay-user:p%40ss%3Aword@127.0.0.1:{s.port}"}
        with create_app(env).app_context():
            caller = create_caller(None, email=EMAIL)
            message_id = queue_outbound(caller, None, "Hello.")
            run_worker()
            assert reload_message(message_id).status == "delivered"
        assert logins == [("relay-user", "p@ss:word")]
        assert len(s.mailbox.messages) == 1


def test_email_address_is_never_logged_unmasked(app, deliver_all, smtp_server, caplog):
    caplog.set_level(logging.DEBUG)
    caller = create_caller(None, email=EMAIL)
    queue_outbound(caller, None, "Hello.")
    smtp_server.mailbox.refusals = [
        "451 4.7.1 Greylisted, try again later",
        f"550 5.1.1 <{EMAIL}>: Recipient address rejected",
    ]
    queue_outbound(caller, None, "Hello again.")
    deliver_all()

    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]  # aiosmtpd's own
    assert any(r.name == "bot.outbox" for r in ours)
    logged = "\n".join(
        r.getMessage() + (logging.Formatter().formatException(r.exc_info) if r.exc_info else "")
        for r in ours
    )
    assert EMAIL not in logged
    assert "a***@example.org" in logged
