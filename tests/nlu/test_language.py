"""The answer language: lexicon + restricted langdetect + the conversation's language."""

from __future__ import annotations

from typing import Any

import pytest

from nlu.language import detect, langdetect_spanish
from tests.fake_engine import FakeEngine


@pytest.mark.parametrize(
    ("text", "current", "expected"),
    [
        # one-word replies with a clear language
        ("si", "en", "es"),
        ("sí", "en", "es"),
        ("gracias", "en", "es"),
        ("hola", "en", "es"),
        ("dale", "en", "es"),
        ("thanks", "es", "en"),
        ("yes", "es", "en"),
        ("hello", "es", "en"),
        ("pls", "es", "en"),
        # no signal: the conversation's language stays
        ("ok", "es", "es"),
        ("ok", "en", "en"),
        ("no", "es", "es"),
        ("no", "en", "en"),
        ("5", "es", "es"),
        ("4/5", "en", "en"),
        ("👍", "es", "es"),
        ("⭐⭐⭐⭐", "en", "en"),
        ("??", "es", "es"),
        ("", "es", "es"),
        ("مرحبا", "es", "es"),
        # SMS spelling, no accents, Spanglish
        ("q onda ya vienen o q", "en", "es"),
        ("xq tardan tanto", "en", "es"),
        ("ok gracias", "en", "es"),
        ("ya viene la policia?", "en", "es"),
        ("its been 2 hours where r u guys", "es", "en"),
        ("nvm we're good now", "es", "en"),
        # stretched words
        ("holaaa 👋", "en", "es"),
        ("buenass", "en", "es"),
        ("hiii", "es", "en"),
        ("byeee", "es", "en"),
        # short texts where langdetect alone would guess wrong
        ("usted es humano?", "en", "es"),
        ("ok se agradece", "en", "es"),
        # whole sentences
        ("hola, ya viene alguien?", "en", "es"),
        ("hi any update?", "es", "en"),
        ("the car was a blue honda civic", "es", "en"),
        ("se fue en una camioneta blanca", "en", "es"),
    ],
)
def test_answer_language(text, current, expected):
    assert detect(text, current) == expected


def test_unknown_current_language_falls_back_to_english():
    assert detect("5", "fr") == "en"


def test_langdetect_only_ever_weighs_english_against_spanish_and_is_deterministic():
    french = "Bonjour, est-ce que quelqu'un va venir chez moi ce soir?"
    first = langdetect_spanish(french)
    assert first is not None and 0.0 <= first <= 1.0
    assert all(langdetect_spanish(french) == first for _ in range(5))
    assert langdetect_spanish("the officer was very kind and explained everything") < 0.2
    assert langdetect_spanish("el oficial fue muy amable y me explicó todo") > 0.8


@pytest.fixture
def fake_engine(fake_engine: FakeEngine) -> FakeEngine:
    """The shared stand-in, reading every text as a status question."""
    fake_engine.parse_result = {
        "intent": {"name": "ask_status", "confidence": 0.97},
        "entities": [],
    }
    return fake_engine


def parse(client: Any, body: dict[str, Any]) -> Any:
    return client.post(
        "/api/v1/parse", json=body, headers={"Authorization": "Bearer test-admin-token"}
    )


@pytest.mark.parametrize(
    ("body", "language"),
    [
        ({"text": "ya viene alguien?", "previous_language": "en"}, "es"),
        ({"text": "is anyone coming?", "previous_language": "es"}, "en"),
        ({"text": "ok", "previous_language": "es"}, "es"),
        ({"text": "ok"}, "en"),
    ],
)
def test_parse_reports_the_answer_language(fake_engine, client, body, language):
    resp = parse(client, body)
    assert resp.status_code == 200
    data = resp.get_json()
    assert data["language"] == language
    assert data["intent"] == {"name": "ask_status", "confidence": 0.97}


def test_parse_rejects_a_bad_previous_language(fake_engine, client):
    resp = parse(client, {"text": "hola", "previous_language": "fr"})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["fields"][0]["field"] == "previous_language"


def test_parse_answers_503_when_the_engine_is_down(fake_engine, client):
    fake_engine.down = True
    resp = parse(client, {"text": "hola"})
    assert resp.status_code == 503
    assert resp.get_json()["error"]["code"] == "engine_unavailable"
