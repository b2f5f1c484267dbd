"""Settings: the one place that reads the environment (CONTRACTS.md §1).

Defaults live here; environment variables override them; the agency file
(`config/agency.yml`, or `TENFOUR_AGENCY_CONFIG`) holds what differs between agencies.
A missing or malformed setting raises `ConfigError` naming the variable, at start.

Settings beyond CONTRACTS.md §1 (added, never renamed), with their defaults:

- `TENFOUR_EMAIL_FROM` (`no-reply@tenfour.local`): the From of emails to callers, e.g.
  `Medford Police <no-reply@medfordpolice.example>`.
- `TENFOUR_SEND_DEADLINE` (`2h`): how long after it was queued a text may still go out;
  retries stop there.
- `TENFOUR_RETRY_BACKOFF` (`5s`): the first retry's delay after a temporary failure;
  it doubles per attempt (capped), with jitter.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_AGENCY_FILE = PROJECT_ROOT / "config" / "agency.yml"

DEFAULT_EXCLUDED_CALL_TYPES = "DV,DVO,SA,RAPE,CHILD,JUV,DOA,SUICIDE"
DEFAULT_EMAIL_FROM = "no-reply@tenfour.local"


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it."""


_DURATION = re.compile(r"^(\d+)(s|m|h)$")
_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_duration(name: str, value: str) -> timedelta:
    """`0s`, `30s`, `15m`, `2h` → timedelta."""
    match = _DURATION.match(value.strip())
    if not match:
        raise ConfigError(f"{name}={value!r} is not a duration like 30s, 15m or 2h")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def parse_quiet_hours(name: str, value: str) -> tuple[time, time] | None:
    """`21:00-08:00` → (start, end); `off` → None."""
    if value.strip().lower() == "off":
        return None
    match = re.match(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$", value.strip())
    if not match:
        raise ConfigError(f"{name}={value!r} is not hours like 21:00-08:00 or 'off'")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ConfigError(f"{name}={value!r} has an hour or minute out of range")
    return time(h1, m1), time(h2, m2)


@dataclass(frozen=True)
class Agency:
    """One agency's settings, from the agency file (with the environment's overrides)."""

    code: str
    name: str
    non_emergency_number: str
    excluded_call_types: frozenset[str]
    notify_events: frozenset[str] = frozenset(
        {"call.created", "unit.assigned", "unit.diverted", "call.closed", "case.updated"}
    )
    show_officer: bool = True
    preferred_channel: str = "sms"
    segment_budget: int = 3
    delay_notice_after: dict[int, timedelta] = field(default_factory=dict)
    overrides: dict[str, dict[str, str]] = field(default_factory=dict)

    def delay_for(self, priority: int | None, default: timedelta) -> timedelta:
        if priority is not None and priority in self.delay_notice_after:
            return self.delay_notice_after[priority]
        return default


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str | None
    rasa_url: str
    rasa_token: str
    twilio_account_sid: str | None
    twilio_auth_token: str | None
    twilio_messaging_service_sid: str | None
    twilio_from_number: str | None
    twilio_api_base_url: str | None
    sms_backend: str
    smtp_url: str | None
    public_base_url: str | None
    cad_webhook_secret: str | None
    admin_api_token: str | None
    delay_notice_after: timedelta
    survey_after: timedelta
    quiet_hours: tuple[time, time] | None
    timezone: ZoneInfo
    excluded_call_types: frozenset[str]
    port: int
    instance_path: Path
    agencies: dict[str, Agency]
    default_agency: str
    email_from: str = DEFAULT_EMAIL_FROM
    send_deadline: timedelta = timedelta(hours=2)
    retry_backoff: timedelta = timedelta(seconds=5)

    def agency(self, code: str | None) -> Agency:
        """The agency for a CAD `call.agency` code; unknown or absent → the default."""
        if code and code in self.agencies:
            return self.agencies[code]
        return self.agencies[self.default_agency]


def _instance_path(env: Mapping[str, str]) -> Path:
    return Path(env.get("TENFOUR_INSTANCE_PATH", PROJECT_ROOT / "instance")).resolve()


def rasa_token(env: Mapping[str, str], instance: Path) -> str:
    """`RASA_TOKEN`, else the one generated at setup under `instance/` (created if absent)."""
    if env.get("RASA_TOKEN"):
        return env["RASA_TOKEN"]
    token_file = instance / "rasa_token"
    if not token_file.exists():
        instance.mkdir(parents=True, exist_ok=True)
        token_file.write_text(secrets.token_urlsafe(32))
        token_file.chmod(0o600)
    return token_file.read_text().strip()


def _load_agencies(
    path: Path, excluded: frozenset[str], env_overrides_exclusions: bool
) -> tuple[dict[str, Agency], str]:
    if not path.exists():
        raise ConfigError(f"TENFOUR_AGENCY_CONFIG: {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"TENFOUR_AGENCY_CONFIG: {path} is not valid YAML: {exc}") from exc
    defaults: dict[str, Any] = data.get("defaults", {})
    agencies: dict[str, Agency] = {}
    for code, raw in (data.get("agencies") or {}).items():
        merged = {**defaults, **(raw or {})}
        where = f"TENFOUR_AGENCY_CONFIG: agency {code}"
        try:
            agency_excluded = (
                excluded
                if env_overrides_exclusions or "excluded_call_types" not in merged
                else frozenset(str(c).upper() for c in merged["excluded_call_types"])
            )
            delays = {
                int(p): parse_duration(f"{where} delay_notice_after[{p}]", str(v))
                for p, v in (merged.get("delay_notice_after") or {}).items()
            }
            agencies[str(code)] = Agency(
                code=str(code),
                name=str(merged["name"]),
                non_emergency_number=str(merged["non_emergency_number"]),
                excluded_call_types=agency_excluded,
                notify_events=frozenset(merged.get("notify_events", Agency.notify_events)),
                show_officer=bool(merged.get("show_officer", True)),
                preferred_channel=str(merged.get("preferred_channel", "sms")),
                segment_budget=int(merged.get("segment_budget", 3)),
                delay_notice_after=delays,
                overrides={
                    str(lang): {str(k): str(v) for k, v in texts.items()}
                    for lang, texts in (merged.get("overrides") or {}).items()
                },
            )
        except KeyError as exc:
            raise ConfigError(f"{where} is missing {exc.args[0]!r}") from exc
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where} is malformed: {exc}") from exc
    if not agencies:
        raise ConfigError(f"TENFOUR_AGENCY_CONFIG: {path} defines no agencies")
    default = str(data.get("default_agency") or next(iter(agencies)))
    if default not in agencies:
        raise ConfigError(f"TENFOUR_AGENCY_CONFIG: default_agency {default!r} is not defined")
    return agencies, default


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Reads and validates every setting; raises ConfigError naming the bad one."""
    env = os.environ if env is None else env
    instance = _instance_path(env)

    def get(name: str) -> str | None:
        value = env.get(name)
        return value if value not in (None, "") else None

    twilio_sid = get("TWILIO_ACCOUNT_SID")
    sms_backend = get("SMS_BACKEND") or ("twilio" if twilio_sid else "console")
    if sms_backend not in ("twilio", "console"):
        raise ConfigError(f"SMS_BACKEND={sms_backend!r} must be 'twilio' or 'console'")
    if sms_backend == "twilio":
        for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
            if not get(name):
                raise ConfigError(f"{name} is required when SMS_BACKEND=twilio")
        if not (get("TWILIO_MESSAGING_SERVICE_SID") or get("TWILIO_FROM_NUMBER")):
            raise ConfigError(
                "TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM_NUMBER is required "
                "when SMS_BACKEND=twilio"
            )

    smtp_url = get("SMTP_URL")
    if smtp_url and not re.match(r"^smtps?://", smtp_url):
        raise ConfigError(f"SMTP_URL must start with smtp:// or smtps:// (got {smtp_url!r})")

    email_from = get("TENFOUR_EMAIL_FROM") or DEFAULT_EMAIL_FROM
    if "@" not in parseaddr(email_from)[1]:
        raise ConfigError(f"TENFOUR_EMAIL_FROM={email_from!r} is not an email address")

    database_url = get("DATABASE_URL") or f"sqlite:///{instance / 'tenfour.sqlite'}"
    if database_url.startswith("postgres://"):  # Heroku-style URLs
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgres://")
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")

    redis_url = get("REDIS_URL")
    if redis_url and not re.match(r"^(redis|rediss|unix)://", redis_url):
        raise ConfigError(
            f"REDIS_URL must start with redis://, rediss:// or unix:// ({redis_url!r})"
        )

    try:
        timezone = ZoneInfo(get("TENFOUR_TIMEZONE") or "America/Los_Angeles")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"TENFOUR_TIMEZONE={get('TENFOUR_TIMEZONE')!r} is not a time zone"
        ) from exc

    port_text = get("PORT") or "5000"
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"PORT={port_text!r} is not a port number")

    excluded_env = get("TENFOUR_EXCLUDED_CALL_TYPES")
    excluded = frozenset(
        c.strip().upper()
        for c in (excluded_env or DEFAULT_EXCLUDED_CALL_TYPES).split(",")
        if c.strip()
    )
    agencies, default_agency = _load_agencies(
        Path(get("TENFOUR_AGENCY_CONFIG") or DEFAULT_AGENCY_FILE), excluded, bool(excluded_env)
    )

    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        rasa_url=(get("RASA_URL") or "http://127.0.0.1:5005").rstrip("/"),
        rasa_token=rasa_token(env, instance),
        twilio_account_sid=twilio_sid,
        twilio_auth_token=get("TWILIO_AUTH_TOKEN"),
        twilio_messaging_service_sid=get("TWILIO_MESSAGING_SERVICE_SID"),
        twilio_from_number=get("TWILIO_FROM_NUMBER"),
        twilio_api_base_url=get("TWILIO_API_BASE_URL"),
        sms_backend=sms_backend,
        smtp_url=smtp_url,
        public_base_url=(get("PUBLIC_BASE_URL") or "").rstrip("/") or None,
        cad_webhook_secret=get("CAD_WEBHOOK_SECRET"),
        admin_api_token=get("ADMIN_API_TOKEN"),
        delay_notice_after=parse_duration(
            "TENFOUR_DELAY_NOTICE_AFTER", get("TENFOUR_DELAY_NOTICE_AFTER") or "15m"
        ),
        survey_after=parse_duration("TENFOUR_SURVEY_AFTER", get("TENFOUR_SURVEY_AFTER") or "30m"),
        quiet_hours=parse_quiet_hours(
            "TENFOUR_QUIET_HOURS", get("TENFOUR_QUIET_HOURS") or "21:00-08:00"
        ),
        timezone=timezone,
        excluded_call_types=excluded,
        port=int(port_text),
        instance_path=instance,
        agencies=agencies,
        default_agency=default_agency,
        email_from=email_from,
        send_deadline=parse_duration("TENFOUR_SEND_DEADLINE", get("TENFOUR_SEND_DEADLINE") or "2h"),
        retry_backoff=parse_duration("TENFOUR_RETRY_BACKOFF", get("TENFOUR_RETRY_BACKOFF") or "5s"),
    )
