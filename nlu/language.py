"""Which language to answer a text in: English or Spanish.

langdetect alone is unreliable on SMS ("si", "ok", "gracias", digits, emoji), so:
1. a lexicon of short words decides when it has a clear signal;
2. otherwise langdetect, restricted to en/es and seeded so it is deterministic, decides
   when the text is long enough and it is confident;
3. otherwise the conversation's current language stays.
"""

from __future__ import annotations

import re
import unicodedata

from langdetect import DetectorFactory, LangDetectException, detect_langs

DetectorFactory.seed = 0

LANGUAGES = ("en", "es")

SPANISH_WORDS = frozenset(
    [
        "hola",
        "si",
        "sí",
        "gracias",
        "grax",
        "grs",
        "muchas",
        "buenas",
        "buenos",
        "dias",
        "días",
        "tardes",
        "noches",
        "adios",
        "adiós",
        "ya",
        "que",
        "qué",
        "q",
        "xq",
        "porque",
        "por",
        "favor",
        "porfa",
        "pf",
        "ayuda",
        "ayudeme",
        "ayúdeme",
        "llamada",
        "policia",
        "policía",
        "oficial",
        "viene",
        "vienen",
        "alguien",
        "donde",
        "dónde",
        "cuando",
        "cuándo",
        "cuanto",
        "cuánto",
        "esta",
        "está",
        "estoy",
        "no",
        "nada",
        "bien",
        "mal",
        "necesito",
        "quiero",
        "puede",
        "pueden",
        "usted",
        "ud",
        "mi",
        "mis",
        "su",
        "sus",
        "el",
        "la",
        "los",
        "las",
        "un",
        "una",
        "es",
        "son",
        "con",
        "sin",
        "para",
        "pero",
        "tengo",
        "tiene",
        "hay",
        "como",
        "cómo",
        "numero",
        "número",
        "caso",
        "reporte",
        "denuncia",
        "señor",
        "senor",
        "senora",
        "señora",
        "vale",
        "claro",
        "okey",
        "bueno",
        "cancelar",
        "español",
        "espanol",
        "ingles",
        "inglés",
        "me",
        "te",
        "le",
        "nos",
        "mande",
        "manden",
        "mensajes",
        "llame",
        "llamen",
        "aun",
        "aún",
        "todavia",
        "todavía",
    ]
)
ENGLISH_WORDS = frozenset(
    [
        "hi",
        "hello",
        "hey",
        "yes",
        "yeah",
        "yep",
        "no",
        "nope",
        "thanks",
        "thank",
        "thx",
        "ty",
        "please",
        "pls",
        "plz",
        "ok",
        "okay",
        "bye",
        "is",
        "are",
        "the",
        "a",
        "an",
        "my",
        "your",
        "what",
        "when",
        "where",
        "who",
        "why",
        "how",
        "anyone",
        "someone",
        "still",
        "coming",
        "officer",
        "police",
        "call",
        "report",
        "case",
        "number",
        "help",
        "need",
        "want",
        "can",
        "could",
        "would",
        "will",
        "any",
        "update",
        "there",
        "here",
        "he",
        "she",
        "they",
        "it",
        "im",
        "i'm",
        "you",
        "u",
        "r",
        "did",
        "do",
        "does",
        "not",
        "dont",
        "don't",
        "english",
        "spanish",
        "good",
        "great",
        "fine",
        "sure",
        "cool",
        "stop",
        "come",
        "here",
    ]
)
# Words both languages use identically carry no signal.
_AMBIGUOUS = frozenset({"no", "ok", "okay", "a", "me", "es", "son"})
_WORD = re.compile(r"[a-zñ']+")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()


def lexicon_vote(text: str) -> str | None:
    """en/es when the text's known words lean clearly one way, else None."""
    lowered = text.lower()
    if any(ch in lowered for ch in "ñ¿¡áéíóú"):
        return "es"
    words = _WORD.findall(_fold(text))
    es = sum(1 for w in words if w in SPANISH_WORDS and w not in _AMBIGUOUS)
    en = sum(1 for w in words if w in ENGLISH_WORDS and w not in _AMBIGUOUS)
    if es > en:
        return "es"
    if en > es:
        return "en"
    return None


def detect(text: str, current: str = "en") -> str:
    """The language to answer `text` in, given the conversation's `current` language."""
    current = current if current in LANGUAGES else "en"
    vote = lexicon_vote(text)
    if vote:
        return vote
    letters = sum(ch.isalpha() for ch in text)
    if letters < 12:
        return current
    try:
        candidates = [c for c in detect_langs(text) if c.lang in LANGUAGES]
    except LangDetectException:
        return current
    if candidates and candidates[0].prob >= 0.8:
        return str(candidates[0].lang)
    return current
