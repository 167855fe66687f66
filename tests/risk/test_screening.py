from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.risk.screening import PHRASES, RiskCategory, normalise, screen_text

C = RiskCategory


@pytest.mark.parametrize(("text", "category"), [
    ("I want to kill myself", C.SUICIDE),
    ("I have been feeling SUICIDAL again", C.SUICIDE),
    ("Thinking about ending my life", C.SUICIDE),
    ("I just want to end it all.", C.SUICIDE),
    ("I want to die", C.DEATH_WISH),
    ("everyone would be better off dead... I mean me", C.DEATH_WISH),
    ("They'd be better off without me", C.DEATH_WISH),
    ("I don’t want to live anymore", C.DEATH_WISH),  # curly apostrophe
    ("I DONT WANT TO BE ALIVE", C.DEATH_WISH),
    ("there is no reason to live", C.HOPELESSNESS),
    ("Nothing to live for", C.HOPELESSNESS),
    ("self-harm urges are back", C.SELF_HARM),
    ("I cut myself last night", C.SELF_HARM),
    ("thought about an overdose", C.OVERDOSE),
    ("I could take all my pills", C.OVERDOSE),
    ("I want to hang myself", C.MEANS),
    ("wrote a goodbye note", C.MEANS),
    ("Quiero morir", C.DEATH_WISH),
    ("¡Quiero MORIRME ya!", C.DEATH_WISH),
    ("a veces pienso en matarme", C.SUICIDE),
    ("pensé en suicidarme", C.SUICIDE),
    ("No quiero vivir así", C.DEATH_WISH),
    ("quisiera estar muerta", C.DEATH_WISH),
    ("mi familia estaría mejor sin mí", C.HOPELESSNESS),
    ("quiero hacerme daño", C.SELF_HARM),
    ("pensé en tomarme todas las pastillas", C.OVERDOSE),
    ("acabar   con    todo", C.SUICIDE),  # repeated whitespace
    ("I want to\nkill\tmyself", C.SUICIDE),  # line breaks and tabs
])
def test_risk_language_is_caught(text, category):
    result = screen_text(text)
    assert result.matched and category in result.categories


@pytest.mark.parametrize("text", [
    "I feel fine",
    "Me siento bien hoy",
    "Good session, felt calm and clear afterwards",
    "Slept 8 hours, a bit of nausea in the evening",
    "I'm dying to try the new café",
    "Ran 5 kms this morning",
    "Me corté el pelo",
    "",
])
def test_ordinary_text_is_not_flagged(text):
    assert not screen_text(text).matched


@pytest.mark.parametrize("text", [
    "this headache is killing me",  # may or may not match: erring towards help is acceptable
    "I don't want to die",  # negation is not parsed on purpose: it still matches
])
def test_borderline_text_never_raises(text):
    assert isinstance(screen_text(text).matched, bool)


def test_negation_is_not_parsed_so_it_errs_towards_help():
    assert screen_text("I don't want to die").matched


def test_result_never_carries_the_matched_words():
    result = screen_text("I would be better off dead")
    assert "better" not in repr(result) and "dead" not in repr(result)
    assert result.languages == {"en"}


@pytest.mark.parametrize(("raw", "expected"), [
    ("¡Quiero MORIR!", "quiero morir"),
    ("  Don’t   do\tthat ", "dont do that"),
    ("estaría mejor sin mí", "estaria mejor sin mi"),
    ("daño", "dano"),
    ("ＦＵＬＬ-width", "full width"),
])
def test_normalise(raw, expected):
    assert normalise(raw) == expected


def test_every_phrase_matches_itself():
    for language, table in PHRASES.items():
        for category, phrases in table.items():
            for phrase in phrases:
                assert category in screen_text(phrase.rstrip("*")).categories, (language, phrase)


@given(st.text())
def test_screening_never_raises_and_normalise_is_idempotent(text):
    screen_text(text)
    assert normalise(normalise(text)) == normalise(text)


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", max_size=40), st.text(alphabet="abc ,.!", max_size=20))
def test_a_phrase_inside_other_words_still_matches(prefix, suffix):
    assert screen_text(f"{prefix} I want to kill myself {suffix}").matched
