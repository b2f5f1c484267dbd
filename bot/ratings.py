"""Survey answers: reading a 1–5 rating out of a text, skips, complaints, and storing them.

Callers answer "5", "cinco", "4 stars", "⭐⭐⭐⭐", "4/5", "le doy un 4" or "excellent". A
text is read as a rating only when it is unambiguous: one rating value and nothing that
contradicts it ("4 or 5", "not great", "5 minutes late and rude" are not ratings).
Ratings are stored per call and are anonymous: no officer or call-taker identity.
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import Call, Rating


def words(text: str) -> frozenset[str]:
    """A set of words written as one whitespace-separated block."""
    return frozenset(text.split())


SKIPPED = "skipped"  # slot value of a question the caller chose not to answer

NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "uno": 1, "una": 1, "un": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5,
}  # fmt: skip
# Words that mean a rating on their own, only where no one would read them otherwise.
RATING_WORDS = {
    "excellent": 5, "excelent": 5, "outstanding": 5, "perfect": 5, "amazing": 5,
    "excelente": 5, "exelente": 5, "perfecto": 5, "buenisimo": 5, "excelentisimo": 5,
    "terrible": 1, "awful": 1, "horrible": 1, "pesimo": 1, "worst": 1, "fatal": 1,
}  # fmt: skip
# Words that may surround a rating without changing it ("i give them a 5 out of 5").
FILLER = words(
    """
    i id give gave them him her it they he she would say rate rating a an the is was my
    stars star out of points pts for call taker officer cop dispatcher score overall
    le les doy daria diria calificacion calificaria pongo un una el la es fue de sobre
    estrellas estrella puntos punto mi seria para oficial operadora operador policia
    ok okay si yes so about like and y pues creo think maybe just solo nomas
    """
)
NEGATIONS = frozenset({"not", "no", "never", "nada", "nunca", "isnt", "wasnt", "ni"})
_SKIP_PHRASES = frozenset(
    {
        "skip", "pass", "no", "nope", "nah", "none", "n/a", "na", "next", "no thanks",
        "no thank you", "not now", "nothing", "no comment", "no comments", "rather not",
        "prefer not to say", "dont know", "idk", "thats all", "thats it", "nothing else",
        "no nothing", "paso", "pasar", "no gracias", "nada", "omitir", "saltar", "siguiente",
        "ninguno", "ninguna", "sin comentarios", "no se", "prefiero no", "no quiero",
        "nada mas", "eso es todo", "no nada", "todo bien", "no gracias todo bien", "all good",
        "nop", "noup", "no thx", "no ty", "skip it", "skip this", "me lo salto", "lo paso",
    }
)  # fmt: skip
COMPLAINT_PATTERNS = [
    r"\brude\b", r"\bdisrespect", r"\bunprofessional\b", r"\bnever (even )?(came|showed|arrived)",
    r"\b(no ?one|nobody) (ever )?(came|showed)", r"\bdid(n'?t| not) (care|listen|help)",
    r"\byell(ed|ing)? at\b", r"\bscream(ed)? at\b", r"\bracis", r"\bharass", r"\bignored\b",
    r"\bcomplain", r"\bworst\b", r"\bterrible\b", r"\bhorrible\b", r"\bawful\b",
    r"\babus(e|ive)\b", r"\bthreatened me\b", r"\bmean to me\b", r"\blazy\b",
    r"\bgroser", r"\bmal ?educad", r"\birrespetu", r"\bfalt(o|aron) (al|el) respeto",
    r"\bnunca (llego|llegaron|vino|vinieron)", r"\bno (vino|llego) nadie",
    r"\bnadie (vino|llego)", r"\bno (le|les) importo", r"\bme grit", r"\bracist",
    r"\bqueja", r"\bquejarme", r"\bpesim", r"\bhorrible", r"\bmal trato", r"\bme trat(o|aron) mal",
    r"\bpoco profesional", r"\bno me (hizo|hicieron) caso", r"\bme ignor", r"\bdespota",
    r"\bprepotente", r"\babus", r"\bflojo",
]  # fmt: skip
_COMPLAINT = re.compile("|".join(COMPLAINT_PATTERNS))
_TOKEN = re.compile(r"\d+(?:[.,]\d+)?|[a-z/']+")
_STARS = re.compile(r"[⭐★🌟]")


def fold(text: str) -> str:
    """Lowercase without accents, so "Pésimo" and "pesimo" read the same."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _plain(text: str) -> str:
    return re.sub(r"[^\w/' ]+", " ", fold(text).replace("’", "'")).strip()


def parse_rating(text: str) -> int | None:
    """The 1–5 rating a text gives, or None when it gives none or is ambiguous."""
    stars = len(_STARS.findall(text))
    if stars and not re.search(r"\d", text):
        return stars if 1 <= stars <= 5 else None
    plain = fold(text)
    # "4/5", "4 de 5", "4 out of 5": the scale is not a second rating.
    plain = re.sub(r"\b([1-5])\s*(/|de|of|out of|sobre)\s*5\b", r"\1", plain)
    tokens = _TOKEN.findall(plain.replace("'", ""))
    if not tokens or len(tokens) > 10:
        return None
    values: set[int] = set()
    for token in tokens:
        if re.fullmatch(r"\d+(?:[.,]\d+)?", token):
            if not re.fullmatch(r"[1-5]", token):
                return None  # "10", "3.5", "100": not a 1–5 answer
            values.add(int(token))
        elif token in NUMBER_WORDS:
            # "un"/"una" are articles in "le doy un 4"; only count them standing alone.
            if token in ("un", "una") and len(tokens) > 1:
                continue
            values.add(NUMBER_WORDS[token])
        elif token in RATING_WORDS:
            values.add(RATING_WORDS[token])
        elif token in NEGATIONS or token not in FILLER:
            return None
    return values.pop() if len(values) == 1 else None


def is_skip(text: str) -> bool:
    """True when the caller declines to answer ("skip", "no", "paso", "nada")."""
    plain = re.sub(r"\s+", " ", _plain(text).replace("'", ""))
    return plain in _SKIP_PHRASES


def is_complaint(text: str) -> bool:
    """True when a comment complains about the service (for a supervisor to review)."""
    return bool(_COMPLAINT.search(fold(text)))


def rating_for(s: Session, call: Call) -> Rating:
    """The call's rating row, created empty when the caller gives a first answer."""
    rating = s.scalars(select(Rating).filter_by(call_id=call.id)).one_or_none()
    if rating is None:
        rating = Rating(call_id=call.id)
        s.add(rating)
    return rating


def record(
    s: Session,
    call: Call,
    call_taker: int | None = None,
    officer: int | None = None,
    comment: str | None = None,
) -> Rating:
    """Stores the answers given (None leaves a stored answer as it was)."""
    rating = rating_for(s, call)
    if call_taker is not None:
        rating.call_taker = call_taker
    if officer is not None:
        rating.officer = officer
    if comment:
        add_comment(rating, comment)
    return rating


def add_comment(rating: Rating, comment: str) -> None:
    comment = comment.strip()[:2000]
    rating.comment = f"{rating.comment}\n{comment}" if rating.comment else comment
