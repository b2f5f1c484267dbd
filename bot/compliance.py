"""Compliance keywords (CONTRACTS.md §6): STOP, START, HELP and their Spanish forms.

A keyword counts only as the whole message (case-, accent- and punctuation-insensitive:
"Stop.", "alto!", "AYUDA" but not "ayuda me está pegando"). They are answered
deterministically, before any model, in the caller's language, with the CTIA content. An
opt-out takes effect at once on every channel: the caller is marked and every queued
outbound message of theirs is suppressed; the one confirmation still goes out.
"""

from __future__ import annotations

import re
from enum import Enum

from sqlalchemy import update
from sqlalchemy.orm import Session

from bot import outbox
from bot.config import Agency
from bot.models import Call, Caller, Message, utcnow
from bot.ratings import fold
from bot.texts import render_for


class Keyword(Enum):
    STOP = "stop"
    START = "start"
    HELP = "help"


OPT_OUT = frozenset(
    {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"}
    | {"alto", "parar", "baja", "cancelar"}
)
OPT_IN = frozenset({"start", "unstop", "alta"})
OPT_IN_WHILE_OPTED_OUT = frozenset({"yes"})
HELP = frozenset({"help", "info", "ayuda"})
# Keywords that say which language the caller writes in; the others keep the caller's.
SPANISH = frozenset({"alto", "parar", "baja", "cancelar", "alta", "ayuda"})


def normalize(text: str) -> str:
    """The message as a keyword candidate: folded, without spaces or punctuation."""
    return re.sub(r"[\W_]+", "", fold(text))


def keyword(text: str, opted_out: bool) -> Keyword | None:
    """Which compliance keyword the whole message is, if any."""
    word = normalize(text)
    if word in OPT_OUT:
        return Keyword.STOP
    if word in OPT_IN or (opted_out and word in OPT_IN_WHILE_OPTED_OUT):
        return Keyword.START
    if word in HELP:
        return Keyword.HELP
    return None


def reply_language(text: str, caller: Caller) -> str:
    return "es" if normalize(text) in SPANISH else caller.language


def opt_out(s: Session, caller: Caller) -> bool:
    """Marks the caller opted out and suppresses their queued messages; False if already."""
    if caller.opted_out_at is not None:
        return False
    caller.opted_out_at = utcnow()
    s.execute(
        update(Message)
        .where(
            Message.caller_id == caller.id,
            Message.direction == "outbound",
            Message.status == "queued",
            Message.kind != "compliance",
        )
        .values(status="suppressed", updated_at=utcnow())
    )
    return True


def opt_in(caller: Caller) -> None:
    caller.opted_out_at = None


def answer(
    s: Session,
    word: Keyword,
    caller: Caller,
    call: Call | None,
    agency: Agency,
    language: str,
) -> list[Message]:
    """Applies the keyword and queues its confirmation (not yet dispatched)."""
    if word is Keyword.STOP and not opt_out(s, caller):
        return []  # one confirmation only: a repeated STOP gets nothing
    if word is Keyword.START:
        opt_in(caller)
    text = render_for(f"compliance_{word.value}", language, agency)
    return [outbox.queue_message(s, caller, call, "compliance", text, language, channel="sms")]
