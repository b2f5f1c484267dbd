"""Every text a caller can receive, in English and Spanish: the one source of truth.

Texts live in `en/*.yml` and `es/*.yml` (one file per area: status, notifications,
dialogue, compliance, ...) under the same keys with the same `{placeholders}` (a test
enforces it). A key is defined once per language. An agency may override any key in its
config file.
"""

from __future__ import annotations

import string
from functools import cache
from pathlib import Path
from typing import Any

import yaml

LANGUAGES = ("en", "es")
_HERE = Path(__file__).parent


class UnknownResponse(KeyError):
    pass


@cache
def files(language: str) -> dict[str, dict[str, str]]:
    """The texts of one language by file name (`status.yml`, ...), then by key."""
    texts: dict[str, dict[str, str]] = {}
    for path in sorted((_HERE / language).glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ValueError(f"responses: {language}/{path.name} is not a mapping of keys to texts")
        texts[path.name] = {str(key): str(value).strip() for key, value in data.items()}
    return texts


@cache
def catalog(language: str) -> dict[str, str]:
    """All texts of one language, by key."""
    texts: dict[str, str] = {}
    for name, entries in files(language).items():
        for key, value in entries.items():
            if key in texts:
                raise ValueError(f"responses: {key!r} is defined twice in {language}/ ({name})")
            texts[key] = value
    return texts


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def render(
    key: str,
    language: str,
    overrides: dict[str, dict[str, str]] | None = None,
    **params: Any,
) -> str:
    """The text `key` in `language` (English if unsupported), with `params` filled in."""
    language = language if language in LANGUAGES else "en"
    template = (overrides or {}).get(language, {}).get(key) or catalog(language).get(key)
    if template is None:
        raise UnknownResponse(key)
    return template.format(**params)
