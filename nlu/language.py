"""Which language to answer a text in: English or Spanish.

langdetect alone is unreliable on SMS ("si", "ok", "gracias", digits, emoji), so a text is
scored by three signals, in order of trust:
1. Spanish-only characters (ñ ¿ ¡ and accented vowels);
2. a lexicon of the short words people text in each language ("si", "gracias", "porfa",
   "thx", "pls", "still"), weighed by how sure each word is;
3. for texts long enough to judge, langdetect with only its English and Spanish profiles
   loaded, seeded, so it is deterministic and can only answer en or es.
When the signals lean clearly one way that is the answer, so a caller who switches is
answered in the new language; otherwise (digits, emoji, "ok", "no", a mixed text) the
conversation's current language stays.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from pathlib import Path

from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
from langdetect.lang_detect_exception import LangDetectException


def words(text: str) -> frozenset[str]:
    """A set of words written as one whitespace-separated block."""
    return frozenset(text.split())


LANGUAGES = ("en", "es")

# Words that say "Spanish" almost on their own (weight 2), and common ones (weight 1).
SPANISH_STRONG = words(
    """
    hola si gracias grax grs porfa porfavor xfa xfavor pf buenas buenos dias tardes noches
    adios ya q xq pq porque favor ayuda ayudenme ayudeme llamada policia policias oficial
    oficiales viene vienen alguien nadie donde cuando cuanto cuantos estoy estan esta
    necesito quiero puede pueden usted ustedes ud uds tengo tiene tienen hay numero caso
    denuncia reporte senor senora okey bueno buena vale claro cancelar espanol ingles
    manden mande mensajes llamen llame todavia aun nada muchas dale listo sale orale ahorita
    ahora aqui alla ahi tambien pero para con sin muy mas jaja jajaja jeje pues pos neta
    chido mija mijo amigo oye mire quien cual vino llego llegaron llegan regreso volvio se
    fue estaba dijo puedo podria quisiera hablar habla entiendo perfecto igualmente
    nel nop cinco cuatro tres dos uno estrellas estrella pesimo servicio humano agradece
    agradezco gracias buen buenisimo malisimo orita ahorita luego nomas
    """
)
SPANISH_WEAK = words(
    """
    el la los las un una unos unas de del en al lo le les nos te mi mis su sus tu y o
    que como eso esto este ese esa todo todos nunca siempre hoy manana casa carro camioneta
    hombre mujer blanco blanca negro negra tiempo minutos horas era fueron hace hizo voy va
    van vamos dice digo sabe saber ver veo mucho poco otra otro calle puerta afuera adentro
    porque cuando hijo hija ninos esposo esposa vecino vecina gente persona personas
    mensaje llamar contestar respuesta pregunta todavia cosa algo ningun ninguno
    """
)
ENGLISH_STRONG = words(
    """
    hi hello hey yes yeah yep yup nope thanks thank thx ty tysm please pls plz bye the is
    are was were what whats when where who why how anyone someone somebody nobody still
    coming officer cops cop police update status need want can could would should will
    wont dont didnt cant isnt wasnt im ive youre theyre hes shes its you your u ur i my
    english spanish good great fine sure cool awesome sorry welcome okay helo alright
    goodnight okie nah thats five four three two one stars star experience later
    """
)
ENGLISH_WEAK = words(
    """
    and or but with for of to in on at from this that it we they he she him her them there
    here have has had do does did get got go going gonna gotta come came back now soon long
    wait waiting left car truck white black guy man woman house home street door just
    already again really very so too much lot know think said say tell told see saw time
    today tonight morning night phone text call called report case number help about after
    before out up down over if then than because cause bc all nothing something anything
    be been being an not any yet let lol omg wtf idk btw asap ok never mind nvm anymore
    guys finally hurry done ready happened wrong right which were gone away more
    messages message texts texting unsubscribe
    """
)
# Present in both lexicons' languages with no lean either way.
NEUTRAL = frozenset({"no", "a", "me", "es", "son", "ok", "total", "final", "hotel", "idea"})
_SPANISH_CHARS = set("ñ¿¡áéíóú")
_WORD = re.compile(r"[a-z']+")
MIN_LETTERS_FOR_LANGDETECT = 12
LANGDETECT_WEIGHT = 3.0  # for a text of LANGDETECT_FULL_LETTERS letters or more
LANGDETECT_FULL_LETTERS = 30  # shorter texts: langdetect counts less than the lexicon
_REPEATS = re.compile(r"(.)\1+")


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@cache
def _factory() -> DetectorFactory:
    """langdetect with only the English and Spanish profiles: it cannot answer anything else."""
    factory = DetectorFactory()
    profiles = [(Path(PROFILES_DIRECTORY) / code).read_text(encoding="utf-8") for code in LANGUAGES]
    factory.load_json_profile(profiles)
    factory.seed = 0
    return factory


def langdetect_spanish(text: str) -> float | None:
    """P(Spanish) per langdetect, between en and es only; None if it cannot tell."""
    detector = _factory().create()
    detector.append(text)
    try:
        probabilities = detector.get_probabilities()
    except LangDetectException:
        return None
    by_lang = {p.lang: p.prob for p in probabilities}
    total = by_lang.get("es", 0.0) + by_lang.get("en", 0.0)
    return by_lang.get("es", 0.0) / total if total else None


def _known(word: str) -> str:
    """The lexicon's spelling of a stretched word ("holaaa", "hiii", "buenass"), if any."""
    lexicon = SPANISH_STRONG | SPANISH_WEAK | ENGLISH_STRONG | ENGLISH_WEAK
    if word in lexicon:
        return word
    for squeezed in (_REPEATS.sub(r"\1\1", word), _REPEATS.sub(r"\1", word)):
        if squeezed in lexicon:
            return squeezed
    return word


def score(text: str) -> float:
    """Positive leans Spanish, negative English, near zero no signal."""
    lowered = text.lower()
    total = 3.0 if any(ch in _SPANISH_CHARS for ch in lowered) else 0.0
    words = _WORD.findall(fold(text).replace("'", ""))
    for word in map(_known, words):
        if word in NEUTRAL:
            continue
        if word in SPANISH_STRONG:
            total += 2
        elif word in SPANISH_WEAK:
            total += 1
        if word in ENGLISH_STRONG:
            total -= 2
        elif word in ENGLISH_WEAK:
            total -= 1
    letters = sum(ch.isalpha() for ch in text)
    if letters >= MIN_LETTERS_FOR_LANGDETECT and len(words) >= 3:
        p_es = langdetect_spanish(text)
        if p_es is not None:
            weight = LANGDETECT_WEIGHT * min(1.0, letters / LANGDETECT_FULL_LETTERS)
            total += weight * (2 * p_es - 1)
    return total


def lexicon_vote(text: str) -> str | None:
    """en/es when the text leans clearly one way, else None (no signal)."""
    value = score(text)
    if value >= 1:
        return "es"
    if value <= -1:
        return "en"
    return None


def detect(text: str, current: str = "en") -> str:
    """The language to answer `text` in, given the conversation's `current` language."""
    current = current if current in LANGUAGES else "en"
    return lexicon_vote(text) or current
