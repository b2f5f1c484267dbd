"""Measures the dialogue model: data validation, conversation tests, cross-validated intent F1.

Everything runs the engine's own `rasa` (in `.venv-engine`) as a subprocess; this module only
prepares the inputs and reads the JSON reports. Rasa scores intents over all examples at once,
so the per-language figures are computed here from its per-example predictions, each example
belonging to the language folder it was written in (`nlu/data/nlu/en`, `nlu/data/nlu/es`).

Cross-validation trains the model once per fold, so its report is cached under `.rasa/`
(git-ignored), keyed by a fingerprint of the training inputs: a second run on unchanged data
reads the cache.

    python -m nlu.evaluate            # validate, train if needed, conversation tests, CV report
    python -m nlu.evaluate --cv-only  # just the (cached) cross-validation report
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.cli import ENGINE_VENV, NLU_DIR, PROJECT_ROOT

LANGUAGES = ("en", "es")
DEFAULT_FOLDS = 3
CACHE_DIR = PROJECT_ROOT / ".rasa" / "tenfour-evaluation"
TESTS_DIR = NLU_DIR / "tests"
# Bump when the report's shape changes, so stale cached reports are not reused.
REPORT_VERSION = 1

# `[text](entity)` or `[text]{"entity": ..., "value": ...}` → `text`, as Rasa reads examples.
_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")
# Lines of `rasa data validate` that point at a real problem in our data (Rasa's own
# deprecation notices about its dependencies are not ours to fix).
_VALIDATION_PROBLEM = re.compile(r"UserWarning|\bWARNING\b|\bERROR\b|Exception")


class EvaluationError(Exception):
    """The engine failed, or the model did not meet a check; the message says why."""


@dataclass(frozen=True)
class IntentScore:
    intent: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class LanguageScore:
    language: str
    examples: int
    accuracy: float
    macro_f1: float
    intents: list[IntentScore]


def engine_environment() -> dict[str, str]:
    """The environment for `rasa` subprocesses: quiet, no telemetry."""
    return {
        **os.environ,
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "PYTHONWARNINGS": "ignore::DeprecationWarning",
    }


def run_rasa(*args: str) -> subprocess.CompletedProcess[str]:
    """Runs the engine's `rasa` CLI from the project root; output captured."""
    rasa = ENGINE_VENV / "bin" / "rasa"
    if not rasa.exists():
        raise EvaluationError(f"{rasa} is missing: run scripts/setup")
    return subprocess.run(
        [str(rasa), *args],
        cwd=PROJECT_ROOT,
        env=engine_environment(),
        capture_output=True,
        text=True,
        check=False,
    )


def training_inputs() -> list[Path]:
    """The files a trained model depends on."""
    data = sorted(p for p in (NLU_DIR / "data").rglob("*") if p.is_file())
    return [NLU_DIR / "config.yml", NLU_DIR / "domain.yml", *data]


def fingerprint(paths: list[Path] | None = None) -> str:
    """A digest of the training inputs' names and contents."""
    digest = hashlib.sha256(f"report-v{REPORT_VERSION}".encode())
    for path in paths if paths is not None else training_inputs():
        digest.update(str(path.relative_to(PROJECT_ROOT)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def plain_text(example: str) -> str:
    """An annotated training example as a caller would have typed it."""
    return _ANNOTATION.sub(r"\1", example).strip()


def example_languages() -> dict[str, set[str]]:
    """Each training text → the languages it was written for ("ok" is both)."""
    languages: dict[str, set[str]] = defaultdict(set)
    for language in LANGUAGES:
        for path in sorted((NLU_DIR / "data" / "nlu" / language).glob("*.yml")):
            document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            for block in document.get("nlu", []):
                if "intent" not in block:
                    continue
                for line in str(block.get("examples", "")).splitlines():
                    line = line.strip()
                    if line.startswith("- "):
                        languages[plain_text(line[2:])].add(language)
    return dict(languages)


def score_intents(pairs: list[tuple[str, str]]) -> tuple[float, float, list[IntentScore]]:
    """Accuracy, macro F1 and per-intent scores of (expected, predicted) intent pairs."""
    intents = sorted({expected for expected, _ in pairs})
    scores = []
    for intent in intents:
        tp = sum(1 for e, p in pairs if e == intent and p == intent)
        fp = sum(1 for e, p in pairs if e != intent and p == intent)
        fn = sum(1 for e, p in pairs if e == intent and p != intent)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores.append(IntentScore(intent, precision, recall, f1, tp + fn))
    accuracy = sum(1 for e, p in pairs if e == p) / len(pairs) if pairs else 0.0
    macro_f1 = sum(s.f1 for s in scores) / len(scores) if scores else 0.0
    return accuracy, macro_f1, scores


def scores_by_language(
    predictions: list[dict[str, Any]], languages: dict[str, set[str]]
) -> list[LanguageScore]:
    """Per-language scores from Rasa's per-example predictions (successes + errors)."""
    pairs: dict[str, list[tuple[str, str]]] = {language: [] for language in LANGUAGES}
    for item in predictions:
        predicted = (item.get("intent_prediction") or {}).get("name") or ""
        for language in languages.get(str(item["text"]).strip(), set()):
            pairs[language].append((str(item["intent"]), str(predicted)))
    result = []
    for language in LANGUAGES:
        accuracy, macro_f1, intents = score_intents(pairs[language])
        result.append(LanguageScore(language, len(pairs[language]), accuracy, macro_f1, intents))
    return result


def _read_predictions(out: Path) -> list[dict[str, Any]]:
    predictions: list[dict[str, Any]] = []
    for name in ("intent_successes.json", "intent_errors.json"):
        path = out / name
        if path.exists():
            predictions.extend(json.loads(path.read_text(encoding="utf-8")))
    return predictions


def cross_validation(folds: int = DEFAULT_FOLDS, force: bool = False) -> dict[str, Any]:
    """Cross-validated intent scores, overall and per language (cached by fingerprint)."""
    # Computed once: the report belongs to the data as it was when the run started.
    data_fingerprint = fingerprint()
    cached = CACHE_DIR / f"cv-{data_fingerprint}-{folds}folds.json"
    if cached.exists() and not force:
        report: dict[str, Any] = json.loads(cached.read_text(encoding="utf-8"))
        report["cached"] = True
        return report
    with tempfile.TemporaryDirectory(prefix="tenfour-cv-") as tmp:
        out = Path(tmp)
        # Only the NLU files: Rasa's CV reads the intents' examples, not the dialogue data.
        result = run_rasa(
            "test", "nlu",
            "--nlu", str(NLU_DIR / "data" / "nlu"),
            "--config", str(NLU_DIR / "config.yml"),
            "--cross-validation", "--folds", str(folds),
            "--successes", "--no-plot",
            "--out", str(out),
        )  # fmt: skip
        if result.returncode != 0:
            raise EvaluationError(
                f"rasa test nlu failed ({result.returncode}):\n{result.stderr[-3000:]}"
            )
        overall = json.loads((out / "intent_report.json").read_text(encoding="utf-8"))
        predictions = _read_predictions(out)
    languages = scores_by_language(predictions, example_languages())
    report = {
        "fingerprint": data_fingerprint,
        "folds": folds,
        "overall": {
            "accuracy": overall.get("accuracy"),
            "macro_f1": overall.get("macro avg", {}).get("f1-score"),
            "examples": len(predictions),
        },
        "languages": [asdict(language) for language in languages],
        "errors": [
            {
                "text": item["text"],
                "intent": item["intent"],
                "predicted": (item.get("intent_prediction") or {}).get("name"),
            }
            for item in predictions
            if item["intent"] != (item.get("intent_prediction") or {}).get("name")
        ],
    }
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    report["cached"] = False
    return report


def format_report(report: dict[str, Any]) -> str:
    """The cross-validation report as a table: F1 per intent, one column per language."""
    by_language = {lang["language"]: lang for lang in report["languages"]}
    intents = sorted({s["intent"] for lang in report["languages"] for s in lang["intents"]})
    header = f"{'intent':<18}" + "".join(f"{language + ' F1 (n)':>16}" for language in LANGUAGES)
    lines = [
        f"cross-validation, {report['folds']} folds, fingerprint {report['fingerprint']}"
        + (" (cached)" if report.get("cached") else ""),
        header,
        "-" * len(header),
    ]
    for intent in intents:
        cells = []
        for language in LANGUAGES:
            score = next(
                (s for s in by_language[language]["intents"] if s["intent"] == intent), None
            )
            cells.append(f"{score['f1']:.3f} ({score['support']:>3})" if score else "-")
        lines.append(f"{intent:<18}" + "".join(f"{cell:>16}" for cell in cells))
    lines.append("-" * len(header))
    for key in ("accuracy", "macro_f1"):
        lines.append(
            f"{key:<18}" + "".join(f"{by_language[language][key]:>16.3f}" for language in LANGUAGES)
        )
    overall = report["overall"]
    lines.append(
        f"overall: accuracy {overall['accuracy']:.3f}, macro F1 {overall['macro_f1']:.3f}, "
        f"{overall['examples']} examples"
    )
    return "\n".join(lines)


def validate_data() -> list[str]:
    """Runs `rasa data validate`; returns the problems it reported (empty when clean)."""
    result = run_rasa(
        "data", "validate",
        "--domain", str(NLU_DIR / "domain.yml"),
        "--data", str(NLU_DIR / "data"),
        "--config", str(NLU_DIR / "config.yml"),
    )  # fmt: skip
    output = result.stdout + result.stderr
    problems = [
        line.strip()
        for line in output.splitlines()
        if _VALIDATION_PROBLEM.search(line) and "DeprecationWarning" not in line
    ]
    if result.returncode != 0 and not problems:
        problems.append(f"rasa data validate exited {result.returncode}: {output[-2000:]}")
    return problems


def conversation_tests(model: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """Runs the test stories of `nlu/tests` end to end (NLU + dialogue) on `model`.

    Fails (non-zero exit) at the first wrong intent, entity or action.
    """
    return run_rasa(
        "test", "core",
        "--model", str(model),
        "--stories", str(TESTS_DIR),
        "--e2e",
        "--fail-on-prediction-errors",
        "--no-plot",
        "--out", str(out),
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m nlu.evaluate", description=__doc__)
    parser.add_argument("--folds", type=int, default=DEFAULT_FOLDS)
    parser.add_argument("--force", action="store_true", help="ignore the cached CV report")
    parser.add_argument("--cv-only", action="store_true", help="only cross-validation")
    args = parser.parse_args(argv)
    failed = False
    if not args.cv_only:
        from bot.cli import train_model

        problems = validate_data()
        print("data validation:", "clean" if not problems else "\n  ".join(["", *problems]))
        failed |= bool(problems)
        model = train_model(quiet=True)
        print(f"model: {model.name}")
        with tempfile.TemporaryDirectory(prefix="tenfour-core-") as tmp:
            result = conversation_tests(model, Path(tmp))
        print("conversation tests:", "passed" if result.returncode == 0 else "FAILED")
        if result.returncode != 0:
            print(result.stdout[-3000:] + result.stderr[-3000:])
            failed = True
    print(format_report(cross_validation(args.folds, force=args.force)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
