"""SMS segment counting: GSM-7 (160/153 characters) or UCS-2 (70/67).

One character outside the GSM-7 alphabet (é, ó, ¿ are in it only partly: é yes, á no)
makes the whole message UCS-2.
"""

from __future__ import annotations

import math

GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = "^{}\\[~]|€\f"  # each costs two septets


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)


def segments(text: str) -> int:
    """How many SMS segments `text` takes."""
    if is_gsm7(text):
        units = sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
        return 1 if units <= 160 else math.ceil(units / 153)
    units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)  # UTF-16 code units
    return 1 if units <= 70 else math.ceil(units / 67)
