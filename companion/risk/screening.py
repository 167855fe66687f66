"""Free-text risk screening (clinical.md product decision 4, rule A6).

A conservative phrase list per language, matched on normalised text (case, accents, punctuation and
spacing removed). It errs towards showing help: negation is not parsed ("I don't want to die" matches),
and every language's list is applied to every text because people mix languages. Keyword matching
is not validated; it supplements the questions and never replaces them.

The result names categories only. It never carries the matched words, so it can be logged without
leaking what the patient wrote.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

PHRASE_LIST_VERSION = "screen-2026.1"


class RiskCategory(StrEnum):
    SUICIDE = "suicide"
    DEATH_WISH = "death_wish"
    HOPELESSNESS = "hopelessness"
    SELF_HARM = "self_harm"
    OVERDOSE = "overdose"
    MEANS = "means"


# A trailing "*" matches any word ending ("suicid*" -> suicide, suicidal, suicidarme, suicidio).
# Write phrases as they would look after normalise(): lower case, no accents, no apostrophes.
PHRASES: dict[str, dict[RiskCategory, tuple[str, ...]]] = {
    "en": {
        RiskCategory.SUICIDE: (
            "suicid*",
            "suicde*",
            "kill myself",
            "kill my self",
            "killing myself",
            "kill me self",
            "end my life",
            "ending my life",
            "end it all",
            "ending it all",
            "take my own life",
            "take my life",
            "unalive*",
            "not be here anymore",
            "not be around anymore",
        ),
        RiskCategory.DEATH_WISH: (
            "want to die",
            "wanna die",
            "wish i was dead",
            "wish i were dead",
            "want to be dead",
            "better off dead",
            "better off without me",
            "better off if i was dead",
            "better off if i were dead",
            "rather be dead",
            "ready to die",
            "dont want to live",
            "do not want to live",
            "dont wanna live",
            "dont want to be alive",
            "dont want to be here",
            "dont want to wake up",
            "never wake up again",
            "go to sleep and not wake up",
            "wish i could disappear",
            "wish i had never been born",
        ),
        RiskCategory.HOPELESSNESS: (
            "no reason to live",
            "nothing to live for",
            "no point living",
            "no point in living",
            "no point going on",
            "whats the point of living",
            "cant go on like this",
            "cant go on anymore",
            "cannot go on like this",
            "cannot go on anymore",
            "tired of living",
            "tired of being alive",
            "give up on life",
            "no way out",
        ),
        RiskCategory.SELF_HARM: (
            "self harm*",
            "selfharm*",
            "hurt myself",
            "hurting myself",
            "harm myself",
            "harming myself",
            "cut myself",
            "cutting myself",
            "burn myself",
            "burning myself",
            "punish myself",
        ),
        RiskCategory.OVERDOSE: (
            "overdos*",
            "od on",
            "take all my pills",
            "take all the pills",
            "took all my pills",
            "swallow all my pills",
            "swallow all the pills",
            "too many pills",
            "stockpil*",
            "saving up pills",
            "saving my pills",
        ),
        RiskCategory.MEANS: (
            "hang myself",
            "hanging myself",
            "shoot myself",
            "shooting myself",
            "gun to my head",
            "slit my wrist*",
            "jump off a bridge",
            "jump off the bridge",
            "jump off a building",
            "jump off the roof",
            "jump in front of",
            "suicide note",
            "goodbye note",
            "goodbye letter",
            "give away my things",
        ),
    },
    "es": {
        RiskCategory.SUICIDE: (
            "suicid*",
            "matarme",
            "me voy a matar",
            "me quiero matar",
            "quitarme la vida",
            "acabar con mi vida",
            "terminar con mi vida",
            "acabar con todo",
            "terminar con todo",
            "quitarme del medio",
        ),
        RiskCategory.DEATH_WISH: (
            "quiero morir*",
            "me quiero morir",
            "quisiera morir*",
            "deseo morir*",
            "ganas de morir*",
            "mejor muert*",
            "quisiera estar muert*",
            "ojala estuviera muert*",
            "no quiero vivir",
            "no quiero seguir viviendo",
            "no quiero estar aqui",
            "dormir y no despertar",
            "no despertar nunca",
            "no volver a despertar",
        ),
        RiskCategory.HOPELESSNESS: (
            "no tengo razon para vivir",
            "no hay razon para vivir",
            "sin razon para vivir",
            "no tengo por que vivir",
            "no vale la pena vivir",
            "ya no puedo mas",
            "ya no aguanto mas",
            "estarian mejor sin mi",
            "mejor sin mi",
        ),
        RiskCategory.SELF_HARM: (
            "hacerme dano",
            "lastimarme",
            "autolesion*",
            "herirme",
            "cortarme los brazos",
            "me estoy cortando",
        ),
        RiskCategory.OVERDOSE: (
            "sobredosis",
            "tomarme todas las pastillas",
            "tomar todas las pastillas",
            "todas las pastillas",
            "juntando pastillas",
        ),
        RiskCategory.MEANS: (
            "ahorcarme",
            "colgarme",
            "tirarme de un puente",
            "tirarme de un edificio",
            "tirarme por la ventana",
            "tirarme a las vias",
            "tirarme al tren",
            "tirarme al metro",
            "pegarme un tiro",
            "dispararme",
            "cortarme las venas",
            "nota de despedida",
            "carta de despedida",
        ),
    },
}

SUPPORTED_LANGUAGES: tuple[str, ...] = tuple(PHRASES)

_APOSTROPHES = re.compile(r"['’‘`´]")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalise(text: str) -> str:
    """Lower case, accents and punctuation removed, single spaces: "¡Quiero MORIR!" -> "quiero morir"."""
    decomposed = unicodedata.normalize("NFKD", text)
    without_accents = "".join(char for char in decomposed if not unicodedata.combining(char))
    # "don't" -> "dont", so a phrase needs no variant per apostrophe style.
    joined = _APOSTROPHES.sub("", without_accents.casefold())
    return _NON_WORD.sub(" ", joined).strip()


def _phrase_pattern(phrase: str) -> str:
    words = normalise(phrase.rstrip("*")).replace(" ", r"\s")
    return rf"\b{words}{'[a-z0-9]*' if phrase.endswith('*') else ''}\b"


def _compile(phrases: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(_phrase_pattern(phrase) for phrase in phrases))


_PATTERNS: dict[str, dict[RiskCategory, re.Pattern[str]]] = {
    language: {category: _compile(phrases) for category, phrases in table.items()}
    for language, table in PHRASES.items()
}


@dataclass(frozen=True)
class ScreeningResult:
    categories: frozenset[RiskCategory] = frozenset()
    languages: frozenset[str] = frozenset()  # which lists matched, for tuning; never the words

    @property
    def matched(self) -> bool:
        return bool(self.categories)


def screen_text(text: str) -> ScreeningResult:
    """Match ``text`` against every language's phrase list. Safe to call on any string."""
    normalised = normalise(text) if isinstance(text, str) else ""
    hits = [
        (language, category)
        for language, patterns in _PATTERNS.items()
        for category, pattern in patterns.items()
        if pattern.search(normalised)
    ]
    return ScreeningResult(
        categories=frozenset(category for _, category in hits),
        languages=frozenset(language for language, _ in hits),
    )
