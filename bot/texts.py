"""Caller-facing texts in the domain: which agency speaks about a call, and a response
rendered with that agency's name, numbers and text overrides (one place for both)."""

from __future__ import annotations

from typing import Any

from bot import runtime
from bot.config import Agency
from bot.models import Call
from responses import render


def agency_for(call: Call | None) -> Agency:
    """The agency of `call` (CAD `call.agency`), or the default agency."""
    return runtime.current().settings.agency(call.agency if call else None)


def render_for(
    key: str, language: str, agency: Agency, call: Call | None = None, **params: Any
) -> str:
    """The response `key` in `language`, with the agency's and the call's details filled in."""
    defaults = {
        "agency_name": agency.name,
        "non_emergency_number": agency.non_emergency_number,
        "call_number": call.cad_id if call else "",
        "case_number": (call.case_number or "") if call else "",
    }
    return render(key, language, agency.overrides, **{**defaults, **params})
