"""Per-number rate limit of inbound texts, in Redis (shared by every web instance).

A flood from one number (a stuck phone, a prank, a script) must not starve other
callers' turns nor run up the SMS bill: past `INBOUND_PER_MINUTE` texts in a minute the
texts are still recorded, but no turn runs and nothing is answered, except one notice per
`NOTICE_EVERY_SECONDS`. Counting is a fixed one-minute window per number (INCR + EXPIRE).
"""

from __future__ import annotations

import time
from enum import Enum

import redis

INBOUND_PER_MINUTE = 10
NOTICE_EVERY_SECONDS = 600
EMERGENCY_REPLY_EVERY_SECONDS = 60


class Verdict(Enum):
    ALLOW = "allow"  # run the turn as usual
    NOTICE = "notice"  # over the limit: record, answer once that we stopped answering
    DROP = "drop"  # over the limit and already told: record only


def check_inbound(conn: redis.Redis, phone: str, now: float | None = None) -> Verdict:
    """Counts one inbound text from `phone` and says what to do with it."""
    window = int((now if now is not None else time.time()) // 60)
    key = f"tenfour:rate:inbound:{phone}:{window}"
    pipe = conn.pipeline()
    pipe.incr(key)
    pipe.expire(key, 120)
    count = int(pipe.execute()[0])
    if count <= INBOUND_PER_MINUTE:
        return Verdict.ALLOW
    if conn.set(f"tenfour:rate:notice:{phone}", "1", nx=True, ex=NOTICE_EVERY_SECONDS):
        return Verdict.NOTICE
    return Verdict.DROP


def first_emergency_reply(conn: redis.Redis, phone: str) -> bool:
    """True if no 911 reply went to `phone` in the last minute (one per burst of texts)."""
    return bool(
        conn.set(f"tenfour:rate:emergency:{phone}", "1", nx=True, ex=EMERGENCY_REPLY_EVERY_SECONDS)
    )
