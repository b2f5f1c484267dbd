"""Settings: defaults, overrides, and errors that name the bad variable."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings


def settings(tmp_path: Path, **env: str):
    return load_settings({"TENFOUR_INSTANCE_PATH": str(tmp_path), **env})


def test_embedded_defaults(tmp_path):
    s = settings(tmp_path)
    assert s.database_url == f"sqlite:///{tmp_path / 'tenfour.sqlite'}"
    assert s.redis_url is None  # an embedded Redis is started on first use
    assert s.sms_backend == "console"
    assert s.rasa_url == "http://127.0.0.1:5005"
    assert s.delay_notice_after == timedelta(minutes=15)
    assert s.survey_after == timedelta(minutes=30)
    assert s.quiet_hours == (time(21, 0), time(8, 0))
    assert "DV" in s.excluded_call_types and "SUICIDE" in s.excluded_call_types
    assert s.cad_webhook_secret is None


def test_rasa_token_is_generated_once_and_kept(tmp_path):
    first = settings(tmp_path).rasa_token
    assert len(first) >= 32
    assert settings(tmp_path).rasa_token == first
    assert settings(tmp_path, RASA_TOKEN="given").rasa_token == "given"


def test_twilio_backend_chosen_when_account_is_set(tmp_path):
    s = settings(
        tmp_path,
        TWILIO_ACCOUNT_SID="AC123",
        TWILIO_AUTH_TOKEN="tok",
        TWILIO_FROM_NUMBER="+15415550100",
    )
    assert s.sms_backend == "twilio"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TENFOUR_DELAY_NOTICE_AFTER": "fifteen"}, "TENFOUR_DELAY_NOTICE_AFTER"),
        ({"TENFOUR_SURVEY_AFTER": "30"}, "TENFOUR_SURVEY_AFTER"),
        ({"TENFOUR_QUIET_HOURS": "9pm-8am"}, "TENFOUR_QUIET_HOURS"),
        ({"TENFOUR_QUIET_HOURS": "25:00-08:00"}, "TENFOUR_QUIET_HOURS"),
        ({"TENFOUR_TIMEZONE": "Mars/Olympus"}, "TENFOUR_TIMEZONE"),
        ({"PORT": "http"}, "PORT"),
        ({"SMS_BACKEND": "pigeon"}, "SMS_BACKEND"),
        ({"SMS_BACKEND": "twilio"}, "TWILIO_ACCOUNT_SID"),
        ({"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t"}, "TWILIO_FROM_NUMBER"),
        ({"SMTP_URL": "mail.example.org"}, "SMTP_URL"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({"TENFOUR_AGENCY_CONFIG": "/nonexistent/agency.yml"}, "TENFOUR_AGENCY_CONFIG"),
    ],
)
def test_malformed_setting_is_named(tmp_path, env, named):
    with pytest.raises(ConfigError, match=named):
        settings(tmp_path, **env)


def test_durations(tmp_path):
    s = settings(tmp_path, TENFOUR_DELAY_NOTICE_AFTER="0s", TENFOUR_SURVEY_AFTER="2h")
    assert s.delay_notice_after == timedelta(0)
    assert s.survey_after == timedelta(hours=2)
    assert settings(tmp_path, TENFOUR_QUIET_HOURS="off").quiet_hours is None


def test_postgres_urls_use_psycopg3(tmp_path):
    s = settings(tmp_path, DATABASE_URL="postgres://u:p@db:5432/tenfour")
    assert s.database_url == "postgresql+psycopg://u:p@db:5432/tenfour"


def test_agencies_from_file_and_default(tmp_path):
    s = settings(tmp_path)
    assert s.agency(None).code == s.default_agency
    assert s.agency("APD").name == "Ashland Police"
    assert s.agency("APD").show_officer is False
    assert s.agency("UNKNOWN").code == s.default_agency


def test_agency_file_missing_key_is_named(tmp_path):
    agency_file = tmp_path / "agency.yml"
    agency_file.write_text("agencies:\n  XPD:\n    name: X Police\n")
    with pytest.raises(ConfigError, match="non_emergency_number"):
        settings(tmp_path, TENFOUR_AGENCY_CONFIG=str(agency_file))


def test_env_excluded_types_override_the_agency_file(tmp_path):
    s = settings(tmp_path, TENFOUR_EXCLUDED_CALL_TYPES="dv, Custody")
    assert s.agency(None).excluded_call_types == frozenset({"DV", "CUSTODY"})
