"""The inputs of rule evaluation: one entry's facts and the patient's recent history.

Plain frozen data built by the entry services from database rows; nothing here reads the database.
Construction validates ranges, so a fact object that exists is valid input for ``rules.evaluate``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from companion.questionnaires.scoring import (
    AsqResult,
    CssrsResult,
    Gad7Result,
    PastScore,
    Phq9Result,
    baseline_phq9,
    lowest_since_start,
)

SIDE_EFFECT_CODES = frozenset(
    {
        "dissociation",
        "nausea",
        "dizziness",
        "drowsiness",
        "headache",
        "blurred_vision",
        "confusion",
        "urinary",
        "blood_in_urine",
        "cravings",
        "drove_after_session",
    }
)

# Symptom flags the check-in may carry. The first group are C1 (stroke / hypertensive emergency)
# and C4 (sedation / breathing) red flags; the rest feed C5, C6, C8, C9.
C1_SYMPTOMS = frozenset(
    {
        "severe_headache",
        "chest_pain",
        "breathless",
        "vision_loss",
        "one_sided_weakness",
        "slurred_speech",
        "confusion",
        "seizure",
    }
)
C4_SYMPTOMS = frozenset({"cannot_stay_awake", "fainting", "breathing_difficulty"})
OTHER_SYMPTOMS = frozenset(
    {
        "back_pain",  # AHA crisis symptom: upgrades a crisis-range BP to C1
        "hallucinations",
        "paranoia",  # C5
        "severe_pelvic_pain",
        "cannot_pass_urine",  # C6
        "cannot_keep_fluids_down",  # C8: vomiting, unable to keep fluids down for more than 24 h
        "extra_dose_wanted",
        "used_outside_treatment",  # C9
    }
)
SYMPTOM_FLAGS = C1_SYMPTOMS | C4_SYMPTOMS | OTHER_SYMPTOMS


class SafetyAnswer(StrEnum):
    """Daily check-in: thoughts of death or self-harm since the last check-in."""

    NONE = "none"
    PASSIVE = "passive"
    ACTIVE = "active"


class FollowupTrigger(StrEnum):
    """Why a follow-up screener was opened; it changes what an abandoned or negative screen means."""

    CHECKIN_PASSIVE = "checkin_passive"
    CHECKIN_ACTIVE = "checkin_active"
    PHQ9_ITEM9 = "phq9_item9"
    SHARED_TEXT = "shared_text"
    PRIVATE_TEXT = "private_text"
    PATIENT_CHOICE = "patient_choice"


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _check_scale(name: str, value: int | None, low: int, high: int) -> None:
    _require(value is None or low <= value <= high, f"{name} must be between {low} and {high}, got {value}")


@dataclass(frozen=True)
class CheckInFacts:
    local_date: date
    mood: int  # 0-10, higher is better
    anxiety: int = 0
    energy: int = 5
    safety: SafetyAnswer = SafetyAnswer.NONE
    side_effects: Mapping[str, int] = field(default_factory=dict)  # code -> severity 0..3
    symptoms: frozenset[str] = frozenset()
    bp_systolic: int | None = None
    bp_diastolic: int | None = None
    bp_recheck_systolic: int | None = None
    bp_recheck_diastolic: int | None = None
    pre_session: bool = False  # the BP was taken for an upcoming session (C3)
    pregnancy: bool = False
    hours_since_session: float | None = None
    note: str = ""
    note_shared: bool = True  # check-in notes are visible to the care team

    def __post_init__(self) -> None:
        for name in ("mood", "anxiety", "energy"):
            _check_scale(name, getattr(self, name), 0, 10)
        object.__setattr__(self, "safety", SafetyAnswer(self.safety))
        object.__setattr__(self, "symptoms", frozenset(self.symptoms))
        unknown_effects = set(self.side_effects) - SIDE_EFFECT_CODES
        _require(not unknown_effects, f"unknown side effects: {sorted(unknown_effects)}")
        _require(all(0 <= v <= 3 for v in self.side_effects.values()), "side-effect severity must be 0-3")
        _require(self.symptoms <= SYMPTOM_FLAGS, f"unknown symptom flags: {self.symptoms - SYMPTOM_FLAGS}")
        for name in ("bp_systolic", "bp_diastolic", "bp_recheck_systolic", "bp_recheck_diastolic"):
            _check_scale(name, getattr(self, name), 20, 350)
        _require(self.hours_since_session is None or self.hours_since_session >= 0, "hours_since_session < 0")

    def effect(self, code: str) -> int:
        return self.side_effects.get(code, 0)


QuestionnaireResult = Phq9Result | Gad7Result | AsqResult | CssrsResult
_RESULT_TYPES = {"phq9": Phq9Result, "gad7": Gad7Result, "asq": AsqResult, "cssrs": CssrsResult}


@dataclass(frozen=True)
class QuestionnaireFacts:
    instrument: str  # "phq9", "gad7", "asq", "cssrs"
    result: QuestionnaireResult
    local_date: date | None = None
    trigger: FollowupTrigger | None = None  # set when this is a follow-up screener

    def __post_init__(self) -> None:
        expected = _RESULT_TYPES.get(self.instrument)
        _require(expected is not None, f"unknown instrument {self.instrument!r}")
        matches = isinstance(self.result, expected)  # type: ignore[arg-type]
        _require(matches, f"{self.instrument} needs its own scored result, not {type(self.result).__name__}")
        if self.trigger is not None:
            object.__setattr__(self, "trigger", FollowupTrigger(self.trigger))


@dataclass(frozen=True)
class FreeTextFacts:
    """A journal entry, session reflection or message. ``shared``: visible to the care team."""

    text: str
    shared: bool
    language: str | None = None  # informational: every supported language's list is applied


@dataclass(frozen=True)
class HelpRequest:
    """The patient pressed "I need help now" (A7)."""

    source: str = "button"


@dataclass(frozen=True)
class SessionPrepFacts:
    """A pre-session checklist: its home blood pressure is a pre-session reading (C2, C3)."""

    answered_on: date
    bp_systolic: int | None = None
    bp_diastolic: int | None = None

    def __post_init__(self) -> None:
        for name in ("bp_systolic", "bp_diastolic"):
            _check_scale(name, getattr(self, name), 20, 350)

    def as_reading(self) -> CheckInFacts:
        """The reading as the blood-pressure rules see a check-in's. Those rules read only the
        reading, symptoms, side effects and ``pre_session``; the checklist asks no mood, so the
        scales keep neutral values that no rule given this reading looks at."""
        return CheckInFacts(
            local_date=self.answered_on,
            mood=5,
            bp_systolic=self.bp_systolic,
            bp_diastolic=self.bp_diastolic,
            pre_session=True,
        )


Entry = CheckInFacts | QuestionnaireFacts | FreeTextFacts | HelpRequest | SessionPrepFacts


@dataclass(frozen=True)
class DayMood:
    local_date: date
    mood: int


@dataclass(frozen=True)
class History:
    """What the rules need to know about the time before this entry (the entry itself excluded).

    ``from_records`` derives the baseline and the lowest total since the start from the PHQ-9
    history and the first session's time.
    """

    checkins: tuple[DayMood, ...] = ()  # recent days; the latest revision of each day
    phq9_history: tuple[PastScore, ...] = ()  # complete PHQ-9 totals with when they were taken
    baseline_phq9: int | None = None
    lowest_phq9_since_start: int | None = None
    previous_gad7: int | None = None
    sessions_attended: int = 0
    first_session_on: date | None = None
    driving_reports_30d: int = 0  # earlier same-day driving reports in the last 30 days
    previous_side_effects: Mapping[str, int] | None = None  # the last check-in's, None if unknown
    hours_until_next_session: float | None = None

    @property
    def previous_phq9(self) -> int | None:
        latest = max(self.phq9_history, key=lambda score: score.taken_at, default=None)
        return latest.total if latest else None

    @classmethod
    def from_records(
        cls, phq9_history: tuple[PastScore, ...], first_session_at: datetime | None, **fields: object
    ) -> History:
        return cls(
            phq9_history=tuple(phq9_history),
            baseline_phq9=baseline_phq9(phq9_history, first_session_at),
            lowest_phq9_since_start=lowest_since_start(phq9_history, first_session_at),
            first_session_on=first_session_at.date() if first_session_at else None,
            **fields,  # type: ignore[arg-type]
        )
