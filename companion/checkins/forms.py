"""Reading the daily check-in from a form or JSON body."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from companion.checkins.models import SafetyAnswer
from companion.checkins.side_effects import SIDE_EFFECTS, SYMPTOM_CODES
from companion.web.forms import FormData

NOTE_MAX = 2000
FIELDS = (
    "mood",
    "anxiety",
    "energy",
    "sleep_hours",
    "sleep_quality",
    "safety",
    "bp_systolic",
    "bp_diastolic",
    "note",
    "symptom",
) + tuple(f"effect_{effect.code}" for effect in SIDE_EFFECTS)


@dataclass(frozen=True)
class CheckInInput:
    mood: int
    anxiety: int
    energy: int
    safety: str
    sleep_hours: float | None = None
    sleep_quality: int | None = None
    bp_systolic: int | None = None
    bp_diastolic: int | None = None
    note: str = ""
    side_effects: tuple[tuple[str, int], ...] = ()
    symptoms: tuple[str, ...] = ()

    def fingerprint_payload(self) -> dict[str, object]:
        return asdict(self)


def parse_checkin(form: FormData) -> CheckInInput | None:
    """The validated check-in, or None with ``form.errors`` saying what to fix."""
    form.reject_unknown(FIELDS)
    mood = form.integer("mood", 0, 10, label="how your mood is")
    anxiety = form.integer("anxiety", 0, 10, label="how anxious you feel")
    energy = form.integer("energy", 0, 10, label="your energy")
    safety = form.choice("safety", [a.value for a in SafetyAnswer], label="an answer to this question")
    sleep_hours = form.decimal("sleep_hours", 0, 24)
    sleep_quality = form.integer("sleep_quality", 0, 4, required=False)
    systolic, diastolic = _blood_pressure(form)
    note = form.text("note", NOTE_MAX)
    effects = _side_effects(form)
    symptoms = _symptoms(form)
    if not form.ok or mood is None or anxiety is None or energy is None or safety is None:
        return None
    return CheckInInput(
        mood, anxiety, energy, safety, sleep_hours, sleep_quality, systolic, diastolic, note, effects, symptoms
    )


def _symptoms(form: FormData) -> tuple[str, ...]:
    """Ticked warning symptoms (a checkbox group: the one field that may repeat)."""
    ticked = [value.strip() for value in form.values.get("symptom", []) if value.strip()]
    if any(value not in SYMPTOM_CODES for value in ticked):
        form.fail("symptom", "Choose symptoms from the list shown.")
        return ()
    return tuple(sorted(set(ticked)))


def _blood_pressure(form: FormData) -> tuple[int | None, int | None]:
    systolic = form.integer("bp_systolic", 60, 260, required=False)
    diastolic = form.integer("bp_diastolic", 30, 160, required=False)
    if (systolic is None) != (diastolic is None) and not form.errors.keys() & {"bp_systolic", "bp_diastolic"}:
        form.fail("bp_systolic", "Enter both numbers of your blood pressure, or neither.")
        return None, None
    if systolic is not None and diastolic is not None and systolic <= diastolic:
        form.fail("bp_systolic", "The top number (systolic) should be higher than the bottom number.")
        return None, None
    return systolic, diastolic


def _side_effects(form: FormData) -> tuple[tuple[str, int], ...]:
    reported = []
    for effect in SIDE_EFFECTS:
        name = f"effect_{effect.code}"
        value = form.choice(name, [str(v) for v in effect.choices], required=False)
        if value is not None and int(value) > 0:
            reported.append((effect.code, int(value)))
    return tuple(reported)
