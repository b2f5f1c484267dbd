"""CAD events as they arrive (CONTRACTS.md §3): the signature, the schema, the parsed event.

The signature is `X-TenFour-Signature: t=<unix seconds>,v1=<hex>` with
`v1 = HMAC-SHA256(secret, "<t>." + raw_body)`. Several `v1=` values are accepted so a
CAD can sign with an old and a new secret while they are rotated.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, cast

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from bot.phones import InvalidPhone, normalize

SCHEMA_PATH = Path(__file__).with_name("cad_schema.json")
SIGNATURE_TOLERANCE_SECONDS = 300
MAX_BODY_BYTES = 64 * 1024


class InvalidEvent(ValueError):
    """The event breaks the schema; `fields` lists `{"field", "message"}` per problem."""

    def __init__(self, fields: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{f['field']}: {f['message']}" for f in fields))
        self.fields = fields


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of one CAD event; also served in the OpenAPI document."""
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(schema())


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The `X-TenFour-Signature` header value for `body`."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def signature_valid(secret: str, header: str, body: bytes, now: float | None = None) -> bool:
    """True when `header` signs `body` with `secret` and its `t` is within 300 s of now."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > SIGNATURE_TOLERANCE_SECONDS:
        return False
    expected = sign(secret, body, timestamp).partition("v1=")[2]
    return any(hmac.compare_digest(expected.encode(), c.encode()) for c in candidates)


@dataclass(frozen=True)
class Event:
    """A validated CAD event, flattened; `payload` is the raw JSON kept for audit."""

    event_id: str
    type: str
    occurred_at: datetime  # aware, UTC
    call_id: str
    payload: dict[str, Any]
    type_code: str | None = None
    priority: int | None = None
    agency: str | None = None
    phone: str | None = None  # E.164
    email: str | None = None
    language: str | None = None
    unit_id: str | None = None
    officer_name: str | None = None
    officer_badge: str | None = None
    disposition: str | None = None
    case_number: str | None = None
    case_status: str | None = None
    detective: str | None = None


def _field_name(error: ValidationError) -> str:
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        required = cast(list[str], error.validator_value)
        missing = [r for r in required if r not in error.instance]
        path += missing[:1]
    return ".".join(path) or "(body)"


def _message(error: ValidationError) -> str:
    if error.validator == "required":
        return "is required"
    if error.validator == "anyOf" and error.absolute_path and error.absolute_path[-1] == "caller":
        return "a phone or an email is required"
    if error.validator == "anyOf" and error.absolute_path and error.absolute_path[-1] == "call":
        return "call.updated needs type_code or priority"
    if error.validator == "pattern" and error.absolute_path and error.absolute_path[-1] == "email":
        return "is not an email address"
    if error.validator == "pattern":
        return "is not an RFC 3339 date-time with a zone"
    return error.message


def parse(payload: Any) -> Event:
    """Validates a decoded JSON body; raises InvalidEvent with every field error."""
    errors = sorted(_validator().iter_errors(payload), key=lambda e: list(e.absolute_path))
    fields: list[dict[str, str]] = []
    for error in errors:
        entry = {"field": _field_name(error), "message": _message(error)}
        if entry not in fields:
            fields.append(entry)
    if fields:
        raise InvalidEvent(fields)
    try:
        occurred_at = datetime.fromisoformat(payload["occurred_at"].replace("Z", "+00:00"))
    except ValueError as exc:
        problem = {"field": "occurred_at", "message": "is not a valid date-time"}
        raise InvalidEvent([problem]) from exc
    call = payload["call"]
    caller = payload.get("caller") or {}
    unit = payload.get("unit") or {}
    officer = unit.get("officer") or {}
    case = payload.get("case") or {}
    phone = None
    if caller.get("phone"):
        try:
            phone = normalize(caller["phone"])
        except InvalidPhone as exc:
            raise InvalidEvent([{"field": "caller.phone", "message": str(exc)}]) from exc
    return Event(
        event_id=payload["event_id"],
        type=payload["type"],
        occurred_at=occurred_at.astimezone(UTC),
        call_id=call["id"],
        payload=payload,
        type_code=call["type_code"].strip().upper() if call.get("type_code") else None,
        priority=call.get("priority"),
        agency=call.get("agency") or None,
        phone=phone,
        email=(caller.get("email") or "").strip().lower() or None,
        language=caller.get("language") or None,
        unit_id=unit.get("id"),
        officer_name=officer.get("name") or None,
        officer_badge=officer.get("badge") or None,
        disposition=payload.get("disposition"),
        case_number=case.get("number") or None,
        case_status=case.get("status"),
        detective=case.get("detective") or None,
    )
