"""The console backend records texts as delivered and sends nothing."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bot import db, outbox, runtime
from bot.channels.console import ConsoleChannel
from bot.models import Message
from tests.factories import create_call, create_caller
from tests.twilio_server import TwilioTestServer, twilio_settings

PHONE = "+15415550123"


@pytest.fixture
def settings_env(settings_env: dict[str, Any], twilio_server: TwilioTestServer) -> dict[str, Any]:
    # Twilio is configured and reachable, yet the console backend is chosen.
    return {**settings_env, **twilio_settings(twilio_server), "SMS_BACKEND": "console"}


def test_console_records_delivered_and_sends_nothing(app, run_worker, twilio_server, caplog):
    caplog.set_level(logging.INFO)
    assert isinstance(runtime.current().channel("sms"), ConsoleChannel)
    caller = create_caller(PHONE)
    call = create_call(caller)
    message = outbox.queue_message(db.session(), caller, call, "acknowledgement", "Hi.", "en")
    db.session.commit()
    outbox.dispatch([message])

    run_worker()

    db.session.expire_all()
    delivered = db.session.get_one(Message, message.id)
    assert delivered.status == "delivered"
    assert delivered.provider_sid is not None and delivered.provider_sid.startswith("CONSOLE")
    assert twilio_server.requests == 0
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Hi." in logged and PHONE not in logged
