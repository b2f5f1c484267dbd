"""The training data's shape, checked without the engine: names, coverage, languages."""

from __future__ import annotations

from pathlib import Path

import yaml

from nlu import evaluate

NLU_DIR = Path(evaluate.NLU_DIR)
# CONTRACTS.md §6: the intent names the model recognises (add, never rename).
CONTRACT_INTENTS = {
    "greet", "goodbye", "thank", "affirm", "deny", "ask_status", "ask_case_number",
    "ask_case_status", "give_rating", "give_feedback", "add_info", "cancel_request",
    "emergency", "request_callback", "change_language", "opt_out", "bot_challenge",
    "out_of_scope",
}  # fmt: skip
MIN_EXAMPLES = 40


def _examples(language: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted((NLU_DIR / "data" / "nlu" / language).glob("*.yml")):
        for block in yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]:
            if "intent" in block:
                lines = str(block["examples"]).splitlines()
                texts = [line.strip()[2:] for line in lines if line.strip().startswith("- ")]
                found.setdefault(block["intent"], []).extend(texts)
    return found


def test_domain_keeps_every_contract_intent():
    domain = yaml.safe_load((NLU_DIR / "domain.yml").read_text(encoding="utf-8"))
    assert CONTRACT_INTENTS | {"start_survey"} <= set(domain["intents"])


def test_every_intent_has_many_examples_in_both_languages():
    for language in evaluate.LANGUAGES:
        examples = _examples(language)
        for intent in CONTRACT_INTENTS:
            texts = examples.get(intent, [])
            assert len(set(texts)) >= MIN_EXAMPLES, (language, intent, len(set(texts)))


def test_no_text_is_taught_as_two_intents():
    seen: dict[str, str] = {}
    for language in evaluate.LANGUAGES:
        for intent, texts in _examples(language).items():
            for text in texts:
                plain = evaluate.plain_text(text).lower()
                assert seen.setdefault(plain, intent) == intent, (plain, seen[plain], intent)


def test_ratings_are_annotated_with_values_from_one_to_five():
    for language in evaluate.LANGUAGES:
        texts = _examples(language)["give_rating"]
        annotated = [t for t in texts if "](rating)" in t or '"entity": "rating"' in t]
        assert len(annotated) == len(texts), set(texts) - set(annotated)
        for text in texts:
            for value in evaluate._ANNOTATION.findall(text):
                assert value


def test_plain_text_removes_entity_annotations():
    assert evaluate.plain_text("le doy un [4](rating)") == "le doy un 4"
    assert evaluate.plain_text('[cinco]{"entity": "rating", "value": "5"} estrellas') == (
        "cinco estrellas"
    )


def test_example_languages_know_shared_words():
    languages = evaluate.example_languages()
    assert languages["ok"] == {"en", "es"}
    assert languages["ya viene la policia?"] == {"es"}
    assert languages["is anyone still coming?"] == {"en"}


def test_scores_by_language_count_each_language_apart():
    predictions = [
        {"text": "hi", "intent": "greet", "intent_prediction": {"name": "greet"}},
        {"text": "hola", "intent": "greet", "intent_prediction": {"name": "thank"}},
        {"text": "gracias", "intent": "thank", "intent_prediction": {"name": "thank"}},
    ]
    languages = {"hi": {"en"}, "hola": {"es"}, "gracias": {"es"}}
    en, es = evaluate.scores_by_language(predictions, languages)
    assert (en.examples, en.accuracy, en.macro_f1) == (1, 1.0, 1.0)
    assert es.examples == 2 and es.accuracy == 0.5
    greet = next(s for s in es.intents if s.intent == "greet")
    thank = next(s for s in es.intents if s.intent == "thank")
    assert (greet.recall, greet.f1) == (0.0, 0.0)
    assert (thank.precision, thank.recall) == (0.5, 1.0)


def test_fingerprint_follows_the_training_inputs(tmp_path):
    inputs = evaluate.training_inputs()
    assert NLU_DIR / "domain.yml" in inputs and NLU_DIR / "config.yml" in inputs
    assert evaluate.fingerprint(inputs) == evaluate.fingerprint(inputs)
    assert evaluate.fingerprint(inputs[:-1]) != evaluate.fingerprint(inputs)


def test_conversation_tests_cover_every_intent_in_both_languages():
    for language in evaluate.LANGUAGES:
        covered: set[str] = set()
        for path in sorted(evaluate.TESTS_DIR.glob(f"*_{language}.yml")):
            for story in yaml.safe_load(path.read_text(encoding="utf-8"))["stories"]:
                covered |= {step["intent"] for step in story["steps"] if "user" in step}
        assert covered >= CONTRACT_INTENTS, (language, CONTRACT_INTENTS - covered)
