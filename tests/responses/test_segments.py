"""SMS segment counting: GSM-7 vs UCS-2, single vs multi-part, characters that cost two."""

from __future__ import annotations

import pytest

from responses.segments import encoding, is_gsm7, segments


@pytest.mark.parametrize("text", ["é", "É", "ñ", "Ñ", "ü", "¿", "¡", "à", "ö", "Ç", "@£$¥"])
def test_gsm7_letters(text):
    assert is_gsm7(text)


@pytest.mark.parametrize("text", ["á", "í", "ó", "ú", "Á", "Í", "Ó", "Ú", "ç", "’", "“", "—", "😀"])
def test_not_gsm7(text):
    assert encoding(text) == "UCS-2"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("é" * 160, 1),  # é is GSM-7: still 160 to a segment
        ("¿Ya viene alguien? Gracias, señor." * 4, 1),  # 136 characters, all GSM-7
    ],
)
def test_gsm7_counts(text, expected):
    assert encoding(text) == "GSM-7"
    assert segments(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("á" + "a" * 69, 1),  # one accented vowel: the whole text is UCS-2, 70 to a segment
        ("á" + "a" * 70, 2),
        ("ó" + "a" * 133, 2),  # 67 per part
        ("ú" + "a" * 134, 3),
        ("Sí" + "a" * 158, 3),  # 160 characters: 1 segment in GSM-7, 3 in UCS-2
    ],
)
def test_ucs2_counts(text, expected):
    assert encoding(text) == "UCS-2"
    assert segments(text) == expected


def test_extension_characters_cost_two_septets():
    assert segments("€" * 80) == 1  # 160 septets
    assert segments("€" * 81) == 2
    assert segments("[]{}" * 20) == 1  # 80 characters, 160 septets
    assert segments("[]{}" * 20 + "a") == 2


def test_an_escaped_character_is_never_split_between_parts():
    # 306 septets would fit two parts of 153, but the € cannot straddle them.
    assert segments("a" * 152 + "€" + "a" * 152) == 3
    assert segments("a" * 151 + "€" + "a" * 153) == 2


def test_an_emoji_is_two_units_and_never_split():
    assert segments("😀" * 35) == 1  # 70 UTF-16 units
    assert segments("😀" * 36) == 2
    assert segments("a" * 66 + "😀" + "a" * 66) == 3  # 134 units, but the pair moves whole
    assert segments("a" * 65 + "😀" + "a" * 67) == 2
