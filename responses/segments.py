"""SMS segment counting (3GPP TS 23.038): GSM-7 (160, or 153 per part) or UCS-2 (70, or 67).

A text is GSM-7 only if every character is in the GSM-7 alphabet. Of the Spanish letters,
é, ñ, Ñ, ü, ¿ and ¡ are in it; á, í, ó, ú (and Á, Í, Ó, Ú) are not, so one of them makes the
whole message UCS-2. Characters of the extension table (€, [, ], {, }, ...) cost two
septets; characters outside the Basic Multilingual Plane (emoji) cost two UTF-16 units.
A multi-part message never splits a two-unit character across parts.
"""

from __future__ import annotations

GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = "^{}\\[~]|€\f"  # each is an escape plus a character: two septets

GSM7_SINGLE, GSM7_PART = 160, 153  # septets; a part loses 7 to the concatenation header
UCS2_SINGLE, UCS2_PART = 70, 67  # UTF-16 code units


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)


def encoding(text: str) -> str:
    """`"GSM-7"` or `"UCS-2"`: how a phone network would carry `text`."""
    return "GSM-7" if is_gsm7(text) else "UCS-2"


def segments(text: str) -> int:
    """How many SMS segments `text` takes (an empty text still takes one)."""
    if is_gsm7(text):
        costs = [2 if ch in GSM7_EXTENDED else 1 for ch in text]
        single, part = GSM7_SINGLE, GSM7_PART
    else:
        costs = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
        single, part = UCS2_SINGLE, UCS2_PART
    if sum(costs) <= single:
        return 1
    parts, room = 1, part
    for cost in costs:
        if cost > room:  # a two-unit character moves whole to the next part
            parts, room = parts + 1, part
        room -= cost
    return parts
