"""Structured logs never carry a full phone number or email."""

from __future__ import annotations

import json
import logging

from bot.logs import JsonFormatter, mask


def test_mask_phone_and_email():
    assert mask("text to +15415550123 now") == "text to +1541***0123 now"
    assert mask("ana.garcia@example.org") == "a***@example.org"


def test_json_line_is_masked():
    record = logging.LogRecord("bot", logging.INFO, __file__, 1, "from %s", ("+15415550123",), None)
    record.fields = {"to": "+15415550123"}
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "from +1541***0123"
    assert line["to"] == "+1541***0123"
    assert line["level"] == "info"
