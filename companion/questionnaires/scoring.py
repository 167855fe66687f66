"""Pure scoring of the instruments in ``instruments.py`` (clinical.md sections 1-3).

Answers are ``Mapping[item_key, int | None]`` as produced by ``validate_answers`` (below). A
missing answer is never scored as 0: an incomplete PHQ-9 or GAD-7 has no total, and a PHQ-9 without
item 9 is *unknown* risk. A value outside an item's options is a programming error (``ValueError``);
validate form input first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from companion.questionnaires.instruments import (
    ASQ,
    ASQ_SCREEN_KEYS,
    CSSRS,
    DECLINED,
    GAD7,
    PHQ9,
    YES,
    Instrument,
)

Answers = Mapping[str, "int | None"]


class Phq9Band(StrEnum):
    MINIMAL = "minimal"
    MILD = "mild"
    MODERATE = "moderate"
    MODERATELY_SEVERE = "moderately_severe"
    SEVERE = "severe"


class Gad7Band(StrEnum):
    MINIMAL = "minimal"
    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"


class AsqOutcome(StrEnum):
    NEGATIVE = "negative"
    POSITIVE = "positive"  # non-acute positive: brief suicide safety assessment needed
    ACUTE_POSITIVE = "acute_positive"  # imminent risk
    INCOMPLETE = "incomplete"  # no yes/declined, but questions left blank: not "negative"


class CssrsRisk(StrEnum):
    NONE = "none"
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"


@dataclass(frozen=True)
class Phq9Result:
    total: int | None
    band: Phq9Band | None
    item9: int | None
    missing: tuple[str, ...] = ()
    difficulty: int | None = None

    @property
    def complete(self) -> bool:
        return self.total is not None

    @property
    def item9_unknown(self) -> bool:
        return self.item9 is None

    @property
    def item9_positive(self) -> bool:
        return self.item9 is not None and self.item9 > 0

    @property
    def difficulty_loinc(self) -> str | None:
        option = PHQ9.item("difficulty").option(self.difficulty)  # type: ignore[union-attr]
        return option.loinc if option else None


@dataclass(frozen=True)
class Gad7Result:
    total: int | None
    band: Gad7Band | None
    missing: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return self.total is not None


@dataclass(frozen=True)
class AsqResult:
    outcome: AsqOutcome
    declined: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()

    @property
    def positive(self) -> bool:
        return self.outcome in (AsqOutcome.POSITIVE, AsqOutcome.ACUTE_POSITIVE)

    @property
    def abandoned(self) -> bool:
        return bool(self.missing)


@dataclass(frozen=True)
class CssrsResult:
    risk: CssrsRisk
    answers: Mapping[str, int | None]
    missing: tuple[str, ...] = ()
    # Answers to questions the skip logic would not have shown; still counted (see score_cssrs).
    skip_violations: tuple[str, ...] = ()

    @property
    def abandoned(self) -> bool:
        return bool(self.missing)

    def said_yes(self, key: str) -> bool:
        return self.answers.get(key) == YES


def _check_values(instrument: Instrument, answers: Answers) -> None:
    for key, value in answers.items():
        item = instrument.item(key)
        if item is None:
            raise ValueError(f"{instrument.key}: unknown item {key!r}")
        if value is not None and value not in item.values:
            raise ValueError(f"{instrument.key}: {value!r} is not an answer to {key}")


def _total(instrument: Instrument, answers: Answers) -> int | None:
    values = [answers.get(item.key) for item in instrument.scored_items]
    return None if None in values else sum(values)  # type: ignore[arg-type]


def _band(instrument: Instrument, total: int | None) -> str | None:
    if total is None:
        return None
    return [name for floor, name in instrument.bands if total >= floor][-1]


def score_phq9(answers: Answers) -> Phq9Result:
    """Total of items 1-9 (0-27) with its band; no total unless all 9 are answered (section 1)."""
    _check_values(PHQ9, answers)
    total = _total(PHQ9, answers)
    band = _band(PHQ9, total)
    return Phq9Result(
        total=total,
        band=Phq9Band(band) if band else None,
        item9=answers.get("q9"),
        missing=PHQ9.missing_items(answers),
        difficulty=answers.get("difficulty"),
    )


def score_gad7(answers: Answers) -> Gad7Result:
    """Total of items 1-7 (0-21) with its band (cut-points 5, 10, 15; section 2)."""
    _check_values(GAD7, answers)
    total = _total(GAD7, answers)
    band = _band(GAD7, total)
    return Gad7Result(total=total, band=Gad7Band(band) if band else None, missing=GAD7.missing_items(answers))


def score_asq(answers: Answers) -> AsqResult:
    """Yes to any of 1-4, or declining one, is positive; yes to 5 is acute (product decision 1).

    Question 5 answered yes is acute even if 1-4 were not (it should not have been shown, but a
    "yes" to "thoughts of killing yourself right now" is never ignored). Declining 5 after a positive
    screen stays a (non-acute) positive: the acuity is unknown, not ruled out.
    """
    _check_values(ASQ, answers)
    screen = [answers.get(key) for key in ASQ_SCREEN_KEYS]
    declined = tuple(key for key in ASQ.item_keys if answers.get(key) == DECLINED)
    missing = ASQ.missing_items(answers)
    if answers.get("q5") == YES:
        outcome = AsqOutcome.ACUTE_POSITIVE
    elif any(value in (YES, DECLINED) for value in screen):
        outcome = AsqOutcome.POSITIVE
    else:
        outcome = AsqOutcome.INCOMPLETE if missing else AsqOutcome.NEGATIVE
    return AsqResult(outcome=outcome, declined=declined, missing=missing)


def _cssrs_risk(answers: Answers) -> CssrsRisk:
    yes = {key for key, value in answers.items() if value == YES}
    # Q6b left blank after Q6 yes counts as recent behaviour: missing data is not "no risk".
    recent_behaviour = "q6" in yes and answers.get("q6b") != 0
    if yes & {"q4", "q5"} or recent_behaviour:
        return CssrsRisk.HIGH
    if "q3" in yes or "q6" in yes:
        return CssrsRisk.MODERATE
    if yes & {"q1", "q2"}:
        return CssrsRisk.LOW
    return CssrsRisk.NONE


def score_cssrs(answers: Answers) -> CssrsResult:
    """Risk level per the Columbia triage tiers (clinical.md section 3).

    Every "yes" counts, including answers to questions the skip logic would have hidden (listed in
    ``skip_violations``): a patient who says they intend to act is high risk whatever came before.
    ``abandoned`` means a question that should have been asked was left blank.
    """
    _check_values(CSSRS, answers)
    asked = {item.key for item in CSSRS.asked_items(answers)}
    violations = tuple(key for key, value in answers.items() if value is not None and key not in asked)
    return CssrsResult(
        risk=_cssrs_risk(answers),
        answers=dict(answers),
        missing=CSSRS.missing_items(answers),
        skip_violations=violations,
    )


# --- Change over time (clinical.md section 1, "Change definitions") ----------------------------


@dataclass(frozen=True)
class ResponseStatus:
    baseline: int
    current: int
    percent_change: float | None  # negative = improvement; None when the baseline is 0
    response: bool  # >= 50% fall from baseline
    remission: bool  # total < 5
    improved: bool  # collaborative-care "clinically significant": < 10 or >= 50% fall


def response_status(baseline: int, current: int) -> ResponseStatus:
    percent = None if baseline == 0 else round((current - baseline) / baseline * 100, 1)
    # Compare in integers so 50% exactly counts as a response without float rounding doubts.
    response = baseline > 0 and 2 * (baseline - current) >= baseline
    return ResponseStatus(
        baseline=baseline,
        current=current,
        percent_change=percent,
        response=response,
        remission=current < 5,
        improved=current < 10 or response,
    )


@dataclass(frozen=True)
class Worsening:
    rise_vs_previous: int | None
    rise_vs_lowest: int | None
    worsened: bool


def worsening(previous: int | None, current: int, lowest_since_start: int | None, threshold: int = 5) -> Worsening:
    """A rise of >= 5 points vs the previous total or the lowest since treatment began.

    Derived by applying the 5-point MCID (Löwe 2004) in the worsening direction (section 1).
    """
    vs_previous = None if previous is None else current - previous
    vs_lowest = None if lowest_since_start is None else current - lowest_since_start
    rises = [rise for rise in (vs_previous, vs_lowest) if rise is not None]
    return Worsening(vs_previous, vs_lowest, any(rise >= threshold for rise in rises))


@dataclass(frozen=True)
class PastScore:
    taken_at: datetime
    total: int


def baseline_phq9(phq9_history: Sequence[PastScore], first_session_at: datetime | None) -> int | None:
    """The last PHQ-9 total taken before the first treatment session ("before the first dose").

    Before any session has happened, the latest total is the provisional baseline.
    """
    before = [score for score in phq9_history if first_session_at is None or score.taken_at < first_session_at]
    return max(before, key=lambda score: score.taken_at).total if before else None


def lowest_since_start(phq9_history: Sequence[PastScore], first_session_at: datetime | None) -> int | None:
    """The lowest total from the baseline onwards (B1's comparison point)."""
    baseline = baseline_phq9(phq9_history, first_session_at)
    if first_session_at is None:
        return baseline
    after = [score.total for score in phq9_history if score.taken_at >= first_session_at]
    candidates = after + ([baseline] if baseline is not None else [])
    return min(candidates) if candidates else None


# --- Form input ---------------------------------------------------------------------------------

_SHOWN_INPUT_CHARS = 20


def _shown(raw: object) -> str:
    text = str(raw)
    return text if len(text) <= _SHOWN_INPUT_CHARS else text[:_SHOWN_INPUT_CHARS] + "…"


def _parse_answer(instrument: Instrument, key: str, raw: object) -> tuple[int | None, str | None]:
    """One form value -> (answer, error). Blank is "not answered", never an error and never 0."""
    item = instrument.item(key)
    name = instrument.short_title or instrument.title
    if item is None:
        return None, f"{name} has no question called '{_shown(key)}'."
    label = f"{name}, question {key.removeprefix('q')}" if key.startswith("q") else f"{name}, {key} question"
    if not isinstance(raw, str):
        return None, f"{label}: the answer could not be read; please choose one of the options."
    if not raw.strip():
        return None, None
    try:
        value = int(raw.strip())
    except ValueError:
        return None, f"{label}: '{_shown(raw)}' is not one of the answers; please choose an option."
    if value not in item.values:
        allowed = ", ".join(str(v) for v in sorted(item.values))
        return None, f"{label}: {value} is out of range; the answer must be one of {allowed}."
    return value, None


def validate_answers(instrument: Instrument, raw: Mapping[str, str]) -> tuple[dict[str, int | None], list[str]]:
    """Form strings -> (answers for every item, error messages). Never raises on string input.

    Pass only the answer fields (not the CSRF token). Unanswered items come back as None; whether
    a blank is acceptable is the caller's decision (see ``Instrument.missing_items``).
    """
    answers: dict[str, int | None] = {key: None for key in instrument.item_keys}
    errors: list[str] = []
    for key, value in raw.items():
        answer, error = _parse_answer(instrument, str(key), value)
        if error:
            errors.append(error)
        elif str(key) in answers:
            answers[str(key)] = answer
    return answers, errors
