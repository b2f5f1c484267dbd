"""The console backend: records outbound texts as delivered and sends nothing.

Used on a laptop and by the simulator; the message rows are the "phone".
"""

from __future__ import annotations

import logging
import uuid

from bot.logs import mask

log = logging.getLogger(__name__)


class ConsoleChannel:
    delivers_immediately = True

    def __init__(self, name: str = "sms") -> None:
        self.name = name

    def send(
        self, to: str, body: str, *, subject: str | None = None, reference: int | None = None
    ) -> str:
        sid = f"CONSOLE{uuid.uuid4().hex[:26]}"
        log.info("console %s to %s: %s", self.name, mask(to), body)
        return sid
