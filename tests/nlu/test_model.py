"""The real dialogue model, trained by the engine: data validation, conversations, CV scores.

Slow (marked `engine`): the model is trained through `bot.cli.train_model` (Rasa skips the
training when nothing changed) and the cross-validation report is cached by a fingerprint of
`nlu/`, so a second run on the same data reuses both.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import train_model
from nlu import evaluate

pytestmark = pytest.mark.engine

# Cross-validated floors, per language (measured 0.80 macro F1 in both; the open-ended intents
# add_info and out_of_scope are the weakest at 0.53-0.64). Each fold holds out the only
# examples of some phrasings, so CV runs well below accuracy on new texts (>= 93%).
MIN_MACRO_F1 = 0.75
MIN_INTENT_F1 = 0.45


@pytest.fixture(scope="module")
def trained_model() -> Path:
    return train_model(quiet=True)


def test_training_data_validates():
    assert evaluate.validate_data() == []


def test_conversations_follow_every_path_in_both_languages(trained_model, tmp_path):
    result = evaluate.conversation_tests(trained_model, tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    report = json.loads((tmp_path / "story_report.json").read_text(encoding="utf-8"))
    assert report["conversation_accuracy"]["accuracy"] == 1.0
    # Every action the rules map an intent to was predicted, and right every time.
    for action in ("action_answer_status", "action_emergency", "action_submit_feedback",
                   "action_deactivate_loop", "action_clarify", "action_acknowledge"):  # fmt: skip
        assert report[action]["f1-score"] == 1.0, action
    failed = (tmp_path / "failed_test_stories.yml").read_text(encoding="utf-8")
    assert "- story:" not in failed


def test_cross_validated_intent_f1_per_language(capsys):
    report = evaluate.cross_validation()
    with capsys.disabled():
        print("\n" + evaluate.format_report(report))
    for language in report["languages"]:
        assert language["examples"] > 700, language["language"]
        assert language["macro_f1"] >= MIN_MACRO_F1, (language["language"], language["macro_f1"])
        weak = [
            (s["intent"], round(s["f1"], 3)) for s in language["intents"] if s["f1"] < MIN_INTENT_F1
        ]
        assert not weak, (language["language"], weak)
