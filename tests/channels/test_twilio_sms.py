"""The SMS channel runs the real `twilio` library against the Twilio test server."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.channels import (
    OptedOutError,
    OutcomeUnknownError,
    PermanentError,
    TemporaryError,
    UnreachableError,
)
from bot.channels.twilio_sms import TwilioSmsChannel
from bot.config import load_settings
from tests.twilio_server import (
    MESSAGING_SERVICE_SID,
    TwilioTestServer,
    twilio_settings,
)

CALLER = "+15415550123"


def channel_for(settings_env: dict[str, Any], server: TwilioTestServer, **extra: str) -> Any:
    return TwilioSmsChannel(load_settings({**settings_env, **twilio_settings(server), **extra}))


def test_message_reaches_the_server_through_the_library(settings_env, twilio_server):
    sid = channel_for(settings_env, twilio_server).send(CALLER, "Hola, ¿qué tal?", reference=42)

    assert sid.startswith("SM") and len(sid) == 34
    [sent] = twilio_server.accepted
    assert sent["sid"] == sid
    assert sent["to"] == CALLER
    assert sent["body"] == "Hola, ¿qué tal?"
    assert sent["messaging_service_sid"] == MESSAGING_SERVICE_SID
    callback = urlsplit(sent["status_callback"])
    assert (callback.netloc, callback.path) == ("localhost", "/webhooks/twilio/status")
    assert parse_qs(callback.query) == {"message_id": ["42"]}


def test_from_number_is_used_without_a_messaging_service(settings_env, twilio_server):
    channel = channel_for(
        settings_env,
        twilio_server,
        TWILIO_MESSAGING_SERVICE_SID="",
        TWILIO_FROM_NUMBER="+15415550100",
        PUBLIC_BASE_URL="",
    )
    channel.send(CALLER, "hello")
    [sent] = twilio_server.accepted
    assert sent["from"] == "+15415550100"
    assert sent["messaging_service_sid"] == ""
    assert sent["status_callback"] == ""  # no public URL, no callbacks


def test_wrong_auth_token_is_refused_for_good(settings_env, twilio_server):
    channel = channel_for(settings_env, twilio_server, TWILIO_AUTH_TOKEN="not-the-token")
    with pytest.raises(PermanentError) as err:
        channel.send(CALLER, "hello")
    assert err.value.code == "20003"
    assert twilio_server.accepted == []


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [(429, None, "20429"), (500, None, "20500"), (503, None, "20503"), (400, 20429, "20429")],
)
def test_rate_limits_and_server_errors_are_temporary(
    settings_env, twilio_server, status, code, expected
):
    twilio_server.fail_next(1, status, code)
    channel = channel_for(settings_env, twilio_server)
    with pytest.raises(TemporaryError) as err:
        channel.send(CALLER, "hello")
    assert err.value.code == expected
    channel.send(CALLER, "hello")  # the next request goes through
    assert len(twilio_server.accepted) == 1


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (21610, OptedOutError),
        (21211, UnreachableError),
        (21614, UnreachableError),
        (30006, UnreachableError),
        (21606, PermanentError),
    ],
)
def test_permanent_refusals_by_error_code(settings_env, twilio_server, code, kind):
    twilio_server.reject(CALLER, code)
    with pytest.raises(kind) as err:
        channel_for(settings_env, twilio_server).send(CALLER, "hello")
    assert type(err.value) is kind
    assert err.value.code == str(code)


def test_an_invalid_number_is_unreachable(settings_env, twilio_server):
    with pytest.raises(UnreachableError) as err:
        channel_for(settings_env, twilio_server).send("+1541", "hello")
    assert err.value.code == "21211"


def test_connection_refused_is_temporary(settings_env, twilio_server):
    channel = channel_for(settings_env, twilio_server)
    twilio_server.stop()  # nothing listens on the port any more
    with pytest.raises(TemporaryError) as err:
        channel.send(CALLER, "hello")
    assert err.value.code == "network"


def test_no_answer_after_the_request_went_out_is_not_temporary(settings_env, twilio_server):
    """The request may have been taken: retrying it could text the caller twice."""
    twilio_server.drop_next(1)
    with pytest.raises(OutcomeUnknownError):
        channel_for(settings_env, twilio_server).send(CALLER, "hello")
    assert twilio_server.requests == 1


def test_server_restarted_on_the_same_port_is_reached_again(settings_env, twilio_server):
    channel = channel_for(settings_env, twilio_server)
    port = twilio_server.port
    twilio_server.stop()
    with pytest.raises(TemporaryError):
        channel.send(CALLER, "hello")
    revived = TwilioTestServer(port=port).start()
    try:
        channel.send(CALLER, "hello again")
        assert [m["body"] for m in revived.accepted] == ["hello again"]
    finally:
        revived.stop()
