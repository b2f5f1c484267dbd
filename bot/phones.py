"""Phone numbers, always stored as E.164 (default region US)."""

from __future__ import annotations

import phonenumbers


class InvalidPhone(ValueError):
    pass


def normalize(raw: str, region: str = "US") -> str:
    """`(541) 555-0123` → `+15415550123`; raises InvalidPhone."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"not a phone number: {raw!r}") from exc
    if not phonenumbers.is_possible_number(number):
        raise InvalidPhone(f"not a possible phone number: {raw!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
