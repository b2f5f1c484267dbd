"""The emergency fast path: a text that signals danger is answered "call 911" at once.

`signals_danger` is a plain pattern check in both languages (microseconds, no model), run
by the webhook before anything is queued, so the answer never waits behind other turns,
a slow engine or an engine that is down. It favours recall: telling someone who is safe
to call 911 if in danger costs little; missing one who is not costs a great deal.
The message is flagged `emergency` for dispatch; the engine's own `emergency` action later
sees the flag and does not send a second 911 text for the same message.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import Flag, Message
from bot.ratings import fold

PATTERNS_EN = [
    r"\bguns?\b", r"\bpistol\b", r"\brifle\b", r"\bknife\b", r"\bknives\b", r"\bmachete\b",
    r"\bweapon", r"\bshot\b", r"\bshots\b", r"\bshoot", r"\bstabb?", r"\bbleed", r"\bblood",
    r"\b(hit|hitting|beat|beating|punch|punching|choking|chok(e|ed)|strangl\w*|hurting|hurt"
    r"|attack\w*|kick\w*|grabb?\w*) (me|us|her|him|my|the kids?|them)\b",
    r"\b(kill|killing|murder) (me|us|her|him|them|you|my)", r"\b(gonna|going to|will) kill",
    r"\b(he|she|they)('s| is| are|'re|s) back\b", r"\bcame back\b.*\b(gun|knife|angry|drunk)",
    r"\bhelp me\b", r"\bhelp us\b", r"\bhelp!", r"\bsos\b", r"\bin danger\b",
    r"\bbreak(ing)? in", r"\bbroke in", r"\bbreaking into\b",
    r"\bin my (house|home|apartment|room)\b", r"\btrying to (get|break) in",
    r"\boutside my (door|house|window|home)\b", r"\bfollowing me\b", r"\bthreaten",
    r"\bkidnap", r"\bhostage", r"\brap(e|ed|ing)\b", r"\bon fire\b", r"\b(a|house|the) fire\b",
    r"\bcan'?t breathe\b", r"\bnot breathing\b", r"\boverdos", r"\bunconscious\b",
    r"\bheart attack\b", r"\bsuicid", r"\bdying\b",
]  # fmt: skip
PATTERNS_ES = [
    r"\bpistola", r"\barma\b", r"\barmas\b", r"\barmado", r"\bcuchillo", r"\bnavaja",
    r"\bmachete", r"\bdispar", r"\bbalazo", r"\bbalacera", r"\btiroteo", r"\bbala\b",
    r"\bme (esta|estan) (pegando|golpeando|atacando|ahorcando|lastimando|amenazando)",
    r"\b(me|nos|la|lo|le) (pega|pego|golpea|golpeo|ataca|ahorca|lastima)\b",
    r"\b(me|nos|la|lo|los|las) (quiere|quieren|va a|van a) matar", r"\bmatar(me|nos|la|lo)\b",
    r"\bsangr", r"\bauxilio", r"\bsocorro", r"\bayud(e|a)(n)?me\b", r"\bayudenos\b",
    r"\bayuda por favor\b", r"\bpor favor ayuda\b", r"\bayuda\b.*\b(rapido|urgente|ya)\b",
    r"\b(ya )?(regreso|volvio) (el|ella|con)\b", r"\bse metio\b", r"\bentro a mi casa",
    r"\bentraron a mi casa", r"\bquiere(n)? entrar", r"\bamenaz", r"\bsecuestr",
    r"\bincendio", r"\bfuego\b", r"\bno respira", r"\bsobredosis", r"\binconsciente",
    r"\bme (esta|estan) siguiendo", r"\bme sigue\b", r"\bme viol", r"\bpeligro\b",
    r"\bsuicid", r"\bme estoy muriendo\b", r"\bme muero\b",
]  # fmt: skip
# "no danger", "not in danger anymore", "ya no hay peligro": the all-clear, not an alarm.
ALL_CLEAR = re.compile(
    r"\b(no|not|no longer|ya no|sin) (in )?(hay )?(danger|peligro)\b|\bno (me )?da miedo\b"
)
_DANGER = re.compile("|".join(PATTERNS_EN + PATTERNS_ES))


def signals_danger(text: str) -> bool:
    """True when a text reads as someone in danger now (either language)."""
    folded = fold(text)
    if not _DANGER.search(folded):
        return False
    stripped = ALL_CLEAR.sub(" ", folded)
    return bool(_DANGER.search(stripped))


def already_answered(s: Session, message: Message | None) -> bool:
    """True when the fast path answered this message (so nobody sends 911 twice)."""
    if message is None:
        return False
    flag = s.scalars(
        select(Flag.id).filter_by(message_id=message.id, kind="emergency").limit(1)
    ).first()
    return flag is not None
