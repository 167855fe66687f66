"""Questionnaire instruments as data: wording, answer options, codes, skip logic, copyright.

Everything here is plain frozen data (clinical.md sections 1-3 and product decisions 1, 2 and 7).
Item keys (``q1`` ... ``q9``, ``difficulty``, ``q6b``) are what forms post and what responses store;
a response also stores ``Instrument.version`` so an answer can always be read against the wording
it was given on. Item wording is the published English wording; do not edit it here without a new
version string (reworded items are no longer the validated instrument).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

LOINC_SYSTEM = "http://loinc.org"
LOINC_NOTICE = (
    "This material contains content from LOINC (http://loinc.org). LOINC is copyright © Regenstrief "
    "Institute, Inc. and the Logical Observation Identifiers Names and Codes (LOINC) Committee and is "
    "available at no cost under the license at http://loinc.org/license."
)
PFIZER_COPYRIGHT = (
    "Developed by Drs. Robert L. Spitzer, Janet B.W. Williams, Kurt Kroenke and colleagues, with an "
    "educational grant from Pfizer Inc. No permission required to reproduce, translate, display or "
    "distribute."
)

NO, YES = 0, 1
# The ASQ counts a refusal as a positive screen, so "declined" is an answer of its own, not a gap.
DECLINED = 9


@dataclass(frozen=True)
class Option:
    value: int
    label: str
    loinc: str | None = None


@dataclass(frozen=True)
class AskWhen:
    """Skip logic: the item is asked when ANY listed earlier item has one of the listed values."""

    any_of: tuple[tuple[str, frozenset[int]], ...]

    def satisfied(self, answers: Mapping[str, int | None]) -> bool:
        return any(answers.get(key) in values for key, values in self.any_of)


@dataclass(frozen=True)
class Item:
    key: str
    text: str
    options: tuple[Option, ...]
    loinc: str | None = None
    scored: bool = True
    # Optional items may stay blank without the response counting as incomplete.
    optional: bool = False
    ask_when: AskWhen | None = None
    help_text: str = ""

    @property
    def values(self) -> frozenset[int]:
        return frozenset(option.value for option in self.options)

    def option(self, value: int | None) -> Option | None:
        return next((option for option in self.options if option.value == value), None)

    def is_asked(self, answers: Mapping[str, int | None]) -> bool:
        return self.ask_when is None or self.ask_when.satisfied(answers)


@dataclass(frozen=True)
class Instrument:
    key: str
    title: str
    version: str
    verified_on: date
    recall_period: str
    instructions: str
    items: tuple[Item, ...]
    copyright: str
    panel_loinc: str | None = None
    total_loinc: str | None = None
    enabled_by_default: bool = True
    licence_note: str = ""
    short_title: str = ""
    bands: tuple[tuple[int, str], ...] = field(default=())

    def item(self, key: str) -> Item | None:
        return next((item for item in self.items if item.key == key), None)

    @property
    def item_keys(self) -> tuple[str, ...]:
        return tuple(item.key for item in self.items)

    @property
    def scored_items(self) -> tuple[Item, ...]:
        return tuple(item for item in self.items if item.scored)

    @property
    def max_total(self) -> int:
        return sum(max(item.values) for item in self.scored_items)

    def asked_items(self, answers: Mapping[str, int | None]) -> tuple[Item, ...]:
        """The items a patient sees given the answers so far (skip logic applied)."""
        return tuple(item for item in self.items if item.is_asked(answers))

    def missing_items(self, answers: Mapping[str, int | None]) -> tuple[str, ...]:
        """Asked, required items left blank. A blank is never read as a zero."""
        return tuple(
            item.key for item in self.asked_items(answers) if not item.optional and answers.get(item.key) is None
        )


# --- PHQ-9 (clinical.md section 1) -------------------------------------------------------------

FREQUENCY_OPTIONS = (
    Option(0, "Not at all", "LA6568-5"),
    Option(1, "Several days", "LA6569-3"),
    Option(2, "More than half the days", "LA6570-1"),
    Option(3, "Nearly every day", "LA6571-9"),
)

# The LA codes are NOT in ascending order: "Very" is LA6575-0 and "Extremely" is LA6574-3
# (HL7 US Core / LHC-Forms, MII example; clinical.md section 1). Some public code swaps them.
DIFFICULTY_OPTIONS = (
    Option(0, "Not difficult at all", "LA6572-7"),
    Option(1, "Somewhat difficult", "LA6573-5"),
    Option(2, "Very difficult", "LA6575-0"),
    Option(3, "Extremely difficult", "LA6574-3"),
)

DIFFICULTY_TEXT = (
    "If you checked off any problems, how difficult have these problems made it for you to do your "
    "work, take care of things at home, or get along with other people?"
)


def _frequency_item(number: int, text: str, loinc: str) -> Item:
    return Item(f"q{number}", text, FREQUENCY_OPTIONS, loinc)


def _difficulty_item(loinc: str | None) -> Item:
    return Item("difficulty", DIFFICULTY_TEXT, DIFFICULTY_OPTIONS, loinc, scored=False, optional=True)


PHQ9 = Instrument(
    key="phq9",
    short_title="PHQ-9",
    title="Patient Health Questionnaire (PHQ-9)",
    version="phq9-en-2024.1",
    verified_on=date(2026, 11, 29),
    recall_period="Over the last 2 weeks",
    instructions="Over the last 2 weeks, how often have you been bothered by any of the following problems?",
    items=(
        _frequency_item(1, "Little interest or pleasure in doing things", "44250-9"),
        _frequency_item(2, "Feeling down, depressed, or hopeless", "44255-8"),
        _frequency_item(3, "Trouble falling or staying asleep, or sleeping too much", "44259-0"),
        _frequency_item(4, "Feeling tired or having little energy", "44254-1"),
        _frequency_item(5, "Poor appetite or overeating", "44251-7"),
        _frequency_item(
            6,
            "Feeling bad about yourself — or that you are a failure or have let yourself or your family down",
            "44258-2",
        ),
        _frequency_item(
            7,
            "Trouble concentrating on things, such as reading the newspaper or watching television",
            "44252-5",
        ),
        _frequency_item(
            8,
            "Moving or speaking so slowly that other people could have noticed? Or the opposite — "
            "being so fidgety or restless that you have been moving around a lot more than usual",
            "44253-3",
        ),
        _frequency_item(9, "Thoughts that you would be better off dead or of hurting yourself in some way", "44260-8"),
        _difficulty_item("69722-7"),
    ),
    copyright=PFIZER_COPYRIGHT,
    panel_loinc="44249-1",
    total_loinc="44261-6",
    bands=((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "moderately_severe"), (20, "severe")),
)

# --- GAD-7 (clinical.md section 2) -------------------------------------------------------------

GAD7 = Instrument(
    key="gad7",
    short_title="GAD-7",
    title="Generalized Anxiety Disorder scale (GAD-7)",
    version="gad7-en-2024.1",
    verified_on=date(2026, 11, 29),
    recall_period="Over the last 2 weeks",
    instructions="Over the last 2 weeks, how often have you been bothered by the following problems?",
    items=(
        _frequency_item(1, "Feeling nervous, anxious, or on edge", "69725-0"),
        _frequency_item(2, "Not being able to stop or control worrying", "68509-9"),
        _frequency_item(3, "Worrying too much about different things", "69733-4"),
        _frequency_item(4, "Trouble relaxing", "69734-2"),
        _frequency_item(5, "Being so restless that it is hard to sit still", "69735-9"),
        _frequency_item(6, "Becoming easily annoyed or irritable", "69689-8"),
        _frequency_item(7, "Feeling afraid, as if something awful might happen", "69736-7"),
        # The GAD-7 difficulty item's LOINC code is unconfirmed (clinical.md section 10, item 5).
        _difficulty_item(None),
    ),
    copyright=PFIZER_COPYRIGHT,
    panel_loinc="69737-5",
    total_loinc="70274-6",
    bands=((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "severe")),
)

# --- ASQ (product decision 1) ------------------------------------------------------------------

YES_NO_OPTIONS = (Option(YES, "Yes", "LA33-6"), Option(NO, "No", "LA32-8"))
ASQ_OPTIONS = YES_NO_OPTIONS + (Option(DECLINED, "I'd rather not answer"),)
ASQ_SCREEN_KEYS = ("q1", "q2", "q3", "q4")

ASQ = Instrument(
    key="asq",
    short_title="ASQ",
    title="Ask Suicide-Screening Questions (ASQ)",
    version="asq-en-2024.1",
    verified_on=date(2026, 11, 29),
    recall_period="The past few weeks (questions 1-2), the past week (3), ever (4), right now (5)",
    instructions="Please answer each question.",
    items=(
        Item("q1", "In the past few weeks, have you wished you were dead?", ASQ_OPTIONS),
        Item(
            "q2",
            "In the past few weeks, have you felt that you or your family would be better off if you were dead?",
            ASQ_OPTIONS,
        ),
        Item("q3", "In the past week, have you been having thoughts about killing yourself?", ASQ_OPTIONS),
        Item("q4", "Have you ever tried to kill yourself?", ASQ_OPTIONS),
        # Question 5 (acuity) is asked when any of 1-4 is yes or declined (NIMH ASQ tool).
        Item(
            "q5",
            "Are you having thoughts of killing yourself right now?",
            ASQ_OPTIONS,
            ask_when=AskWhen(tuple((key, frozenset({YES, DECLINED})) for key in ASQ_SCREEN_KEYS)),
        ),
    ),
    copyright=(
        "Ask Suicide-Screening Questions (ASQ), National Institute of Mental Health (NIMH). "
        "A free NIMH resource; see the NIMH ASQ Toolkit."
    ),
    # No ASQ LOINC codes are given in clinical.md; the yes/no answer codes are LOINC's generic ones.
)

# --- C-SSRS screener, since last contact (clinical.md section 3; product decision 2) -------------

_AFTER_Q2_YES = AskWhen((("q2", frozenset({YES})),))

CSSRS = Instrument(
    key="cssrs",
    short_title="C-SSRS",
    title="Columbia Suicide Severity Rating Scale — Screener (since last contact)",
    version="cssrs-slc-en-2024.1",
    verified_on=date(2026, 11, 29),
    recall_period="Since your last contact with the clinic",
    instructions="Since your last contact with the clinic:",
    items=(
        Item(
            "q1",
            "Have you wished you were dead or wished you could go to sleep and not wake up?",
            YES_NO_OPTIONS,
            "93246-7",
        ),
        Item("q2", "Have you actually had any thoughts about killing yourself?", YES_NO_OPTIONS, "93247-5"),
        Item(
            "q3",
            "Have you been thinking about how you might do this?",
            YES_NO_OPTIONS,
            "93248-3",
            ask_when=_AFTER_Q2_YES,
        ),
        Item(
            "q4",
            "Have you had any intention of acting on these thoughts of killing yourself, as opposed to "
            "you have the thoughts but you definitely would not act on them?",
            YES_NO_OPTIONS,
            "93249-1",
            ask_when=_AFTER_Q2_YES,
        ),
        Item(
            "q5",
            "Have you started to work out or worked out the details of how to kill yourself? "
            "Do you intend to carry out this plan?",
            YES_NO_OPTIONS,
            "93250-9",
            ask_when=_AFTER_Q2_YES,
        ),
        Item(
            "q6",
            "Have you done anything, started to do anything, or prepared to do anything to end your life?",
            YES_NO_OPTIONS,
            "93267-3",
            help_text=(
                "Examples: collected pills, obtained a gun, gave away valuables, wrote a will or suicide "
                "note, took out pills but didn't swallow any, held a gun but changed your mind or it was "
                "grabbed from your hand, went to the roof but didn't jump; or actually took pills, tried "
                "to shoot yourself, cut yourself, tried to hang yourself, etc."
            ),
        ),
        # Whether Q6b belongs in the since-last-contact version is unconfirmed (section 3, skip
        # logic 5): it is optional, and a blank is scored as "within 3 months" (the safer reading).
        Item(
            "q6b",
            "Was this within the past 3 months?",
            YES_NO_OPTIONS,
            "93269-9",
            optional=True,
            ask_when=AskWhen((("q6", frozenset({YES})),)),
        ),
    ),
    copyright=(
        "Columbia-Suicide Severity Rating Scale (C-SSRS) © The Research Foundation for Mental "
        "Hygiene, Inc. (RFMH); Columbia Lighthouse Project. Posner K, Brent D, Lucas C, Gould M, "
        "Stanley B, Brown G, Fisher P, Zelazny J, Burke A, Oquendo M, Mann J."
    ),
    panel_loinc="93373-9",
    total_loinc="93374-7",  # the derived risk level, not a sum
    enabled_by_default=False,
    licence_note=(
        "Electronic versions of the C-SSRS are licensed (Clario holds an exclusive licence from RFMH). "
        "Confirm the licence with the Columbia Lighthouse Project / Clario before switching it on."
    ),
)

CSSRS_RISK_LEVEL_LOINC = "93374-7"
# Only "Low" is confirmed in clinical.md; the other level answer codes are not filled in.
CSSRS_RISK_LEVEL_ANSWERS = {"low": "LA9194-7"}

INSTRUMENTS: Mapping[str, Instrument] = {instrument.key: instrument for instrument in (PHQ9, GAD7, ASQ, CSSRS)}


def get_instrument(key: str) -> Instrument | None:
    return INSTRUMENTS.get(key)
