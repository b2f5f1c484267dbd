"""The responses catalogue: both languages alike, every text within budget, no links.

Reads every file under responses/en and responses/es as it is now, so texts added later
are covered without touching this file.
"""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
import yaml

import responses
from bot.config import Agency, load_settings
from responses.segments import encoding, segments

ROOT = Path(responses.__file__).parent

# Realistic worst cases for each placeholder: what a caller may really get.
LONG_VALUES = {
    "call_number": "MPD-26-0045123",  # 14 characters
    "case_number": "2026-000567890",  # 14
    "agency_name": "Ashland Police Dept.",  # 20
    "non_emergency_number": "(541) 482-5211",  # 14
    "officer_name": "Christopher J. Montgomery",  # 25
    "detective": "Det. Alexandra Whitcomber",  # 25
    "badge": "123456",
    "unit": "2A31-K9X",
    "minutes": "45",
}
# A placeholder not listed above gets this: as long as the longest name.
FALLBACK_VALUE = "Xxxxxxxxxxxxxxxxxxxxxxxxx"  # 25

LINK = re.compile(r"https?://|www\.|\.(com|org|net|gov|us|info|ly|io)\b", re.IGNORECASE)


def raw(language: str) -> dict[str, dict[str, object]]:
    """Each file of one language as YAML parsed it, values untouched."""
    return {
        path.name: yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for path in sorted((ROOT / language).glob("*.yml"))
    }


def long_values(template: str) -> dict[str, str]:
    return {
        name: LONG_VALUES.get(name, FALLBACK_VALUE) for name in responses.placeholders(template)
    }


def agencies() -> list[Agency]:
    return list(
        load_settings(
            {"TENFOUR_INSTANCE_PATH": "/nonexistent", "RASA_TOKEN": "x"}
        ).agencies.values()
    )


def every_text() -> list[tuple[str, str, str]]:
    """(language, key, template) for every text, agency overrides included."""
    texts = [
        (lang, key, t) for lang in responses.LANGUAGES for key, t in responses.catalog(lang).items()
    ]
    for agency in agencies():
        for lang, overrides in agency.overrides.items():
            texts += [(lang, f"{key} ({agency.code} override)", t) for key, t in overrides.items()]
    return texts


def test_both_languages_have_the_same_files():
    assert set(raw("en")) == set(raw("es"))
    assert raw("en"), "responses/en has no files"


def test_every_entry_is_a_non_empty_text():
    for language in responses.LANGUAGES:
        for name, entries in raw(language).items():
            assert isinstance(entries, dict), f"{language}/{name} is not a mapping"
            for key, value in entries.items():
                assert isinstance(value, str) and value.strip(), (
                    f"{language}/{name}: {key} is empty"
                )


def test_keys_match_between_languages_file_by_file():
    en, es = raw("en"), raw("es")
    problems = []
    for name in sorted(set(en) & set(es)):
        only_en, only_es = set(en[name]) - set(es[name]), set(es[name]) - set(en[name])
        problems += [f"{name}: {k!r} only in English" for k in sorted(only_en)]
        problems += [f"{name}: {k!r} only in Spanish" for k in sorted(only_es)]
    assert not problems, "\n".join(problems)


def test_placeholders_match_between_languages():
    en, es = responses.catalog("en"), responses.catalog("es")
    problems = [
        f"{key}: English has {sorted(responses.placeholders(en[key]))}, "
        f"Spanish has {sorted(responses.placeholders(es[key]))}"
        for key in sorted(set(en) & set(es))
        if responses.placeholders(en[key]) != responses.placeholders(es[key])
    ]
    assert not problems, "\n".join(problems)


def test_placeholders_are_plain_names():
    """`{name}` only: no positions, attributes, conversions or formats a translator can break."""
    for language, key, template in every_text():
        for _, name, spec, conversion in string.Formatter().parse(template):
            if name is None:
                continue
            assert name.isidentifier(), f"{language} {key}: {{{name}}}"
            assert not spec and conversion is None, (
                f"{language} {key}: {{{name}!{conversion}:{spec}}}"
            )


def test_agency_overrides_name_real_keys_and_placeholders():
    for agency in agencies():
        for language, overrides in agency.overrides.items():
            assert language in responses.LANGUAGES, f"{agency.code}: unknown language {language}"
            catalog = responses.catalog(language)
            for key, text in overrides.items():
                assert key in catalog, f"{agency.code} overrides unknown {key!r}"
                extra = responses.placeholders(text) - responses.placeholders(catalog[key])
                assert not extra, f"{agency.code} {key}: placeholders {extra} are never filled"


def test_no_text_contains_a_link():
    """Callers take linked police texts for scams."""
    found = [f"{lang} {key}: {t}" for lang, key, t in every_text() if LINK.search(t)]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("agency", agencies(), ids=lambda a: a.code)
def test_every_text_fits_the_agency_segment_budget(agency):
    problems = []
    for language in responses.LANGUAGES:
        for key, template in responses.catalog(language).items():
            text = responses.render(key, language, agency.overrides, **long_values(template))
            if segments(text) > agency.segment_budget:
                problems.append(
                    f"{language} {key}: {segments(text)} segments ({encoding(text)}, "
                    f"{len(text)} characters) > {agency.segment_budget}: {text}"
                )
    assert not problems, "\n".join(problems)


def test_link_pattern():
    assert LINK.search("Más información en www.ejemplo.gob")
    assert LINK.search("see https://x.example") and LINK.search("medfordpolice.com")
    assert not LINK.search("Call 911. Non-emergency: 541-770-4783. Thank you.")
