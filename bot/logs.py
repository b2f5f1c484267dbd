"""Structured logs: one JSON line per event, phone numbers and emails masked."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

_PHONE = re.compile(r"\+?\d[\d\-\s().]{7,}\d")
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+)")


def mask(text: str | None) -> str:
    """`+15415550123` → `+1541***0123`; `ana@example.org` → `a***@example.org`."""
    if not text:
        return ""

    def phone(m: re.Match[str]) -> str:
        digits = m.group(0)
        return digits[:5] + "***" + digits[-4:] if len(digits) > 9 else "***"

    return _EMAIL.sub(r"\1***@\2", _PHONE.sub(phone, text))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": mask(record.getMessage()),
        }
        for key, value in getattr(record, "fields", {}).items():
            entry[key] = mask(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = mask(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
