"""Physical-health and treatment-safety rules C1-C12 of clinical.md section 9, on daily check-ins.

Each function takes (check-in facts, history, clinic settings) and returns a Finding or None.
"""

from __future__ import annotations

from companion.risk.facts import C1_SYMPTOMS, C4_SYMPTOMS, CheckInFacts, History, SessionPrepFacts
from companion.risk.findings import Finding, Severity
from companion.risk.findings import finding_for as _finding
from companion.risk.rule_settings import ClinicRuleSettings

_LABELS = {
    "severe_headache": "sudden severe headache",
    "chest_pain": "chest pain",
    "breathless": "breathlessness",
    "vision_loss": "sudden vision loss",
    "one_sided_weakness": "one-sided weakness or numbness",
    "slurred_speech": "slurred speech",
    "confusion": "confusion",
    "seizure": "seizure",
    "cannot_stay_awake": "cannot stay awake",
    "fainting": "fainting",
    "breathing_difficulty": "difficulty breathing",
    "back_pain": "back pain",
    "hallucinations": "hallucinations",
    "paranoia": "paranoia",
    "severe_pelvic_pain": "severe bladder or pelvic pain",
    "cannot_pass_urine": "cannot pass urine",
    "extra_dose_wanted": "wanting extra or earlier doses",
    "used_outside_treatment": "use outside treatment",
    "blurred_vision": "blurred vision",
    "dissociation": "dissociation",
    "nausea": "nausea",
    "dizziness": "dizziness",
    "headache": "headache",
    "blood_in_urine": "blood in urine",
    "cravings": "cravings",
}
# AHA: with a crisis-range BP, any of these makes it an emergency (section 4, blood pressure facts).
BP_CRISIS_SYMPTOMS = C1_SYMPTOMS | C4_SYMPTOMS | {"back_pain"}
BP_CRISIS_EFFECTS = ("headache", "blurred_vision", "confusion")


def _listed(codes: object) -> str:
    return ", ".join(_LABELS.get(code, code) for code in sorted(codes))  # type: ignore[call-overload]


def _reported_effects(entry: CheckInFacts, codes: tuple[str, ...]) -> list[str]:
    return [code for code in codes if entry.effect(code) > 0]


def _in_crisis(systolic: int | None, diastolic: int | None, settings: ClinicRuleSettings) -> bool:
    return (systolic or 0) >= settings.bp_crisis_systolic or (diastolic or 0) >= settings.bp_crisis_diastolic


def _bp(systolic: int | None, diastolic: int | None) -> str:
    return f"{systolic if systolic is not None else '?'}/{diastolic if diastolic is not None else '?'}"


def _any_bp_in_crisis(entry: CheckInFacts, settings: ClinicRuleSettings) -> bool:
    return _in_crisis(entry.bp_systolic, entry.bp_diastolic, settings) or _in_crisis(
        entry.bp_recheck_systolic, entry.bp_recheck_diastolic, settings
    )


def _bp_symptoms(entry: CheckInFacts) -> set[str]:
    return set(entry.symptoms & BP_CRISIS_SYMPTOMS) | set(_reported_effects(entry, BP_CRISIS_EFFECTS))


# C1 — AHA hypertensive crisis category; PI BP warnings; contraindicated vascular conditions.
# Symptom-driven: the red-flag symptoms alone are Critical, whatever the BP.
def c1_emergency_symptoms(entry: CheckInFacts, history: History, settings: ClinicRuleSettings) -> Finding | None:
    red_flags = entry.symptoms & C1_SYMPTOMS
    if red_flags:
        return _finding("C1", f"Possible stroke or hypertensive emergency: {_listed(red_flags)}.", show_crisis=True)
    symptoms = _bp_symptoms(entry)
    if _any_bp_in_crisis(entry, settings) and symptoms:
        reason = f"Home BP {_bp(entry.bp_systolic, entry.bp_diastolic)} with {_listed(symptoms)}."
        return _finding("C1", reason, show_crisis=True)
    return None


# C2 — AHA guidance: crisis-range BP without symptoms, re-measure after ~5 minutes.
# A missing re-check is treated as still high: missing data is not reassurance.
def c2_bp_crisis_no_symptoms(entry: CheckInFacts, history: History, settings: ClinicRuleSettings) -> Finding | None:
    if not _in_crisis(entry.bp_systolic, entry.bp_diastolic, settings) or _bp_symptoms(entry):
        return None
    reading = _bp(entry.bp_systolic, entry.bp_diastolic)
    recheck = (entry.bp_recheck_systolic, entry.bp_recheck_diastolic)
    if recheck == (None, None):
        return _finding("C2", f"Home BP {reading}, no symptoms; re-check not recorded.")
    if not _in_crisis(*recheck, settings):
        return None
    return _finding("C2", f"Home BP {reading}, re-check {_bp(*recheck)}, no symptoms.")


def _is_pre_session(entry: CheckInFacts, history: History, settings: ClinicRuleSettings) -> bool:
    hours = history.hours_until_next_session
    return entry.pre_session or (hours is not None and 0 <= hours <= settings.pre_session_window_hours)


# C3 — PI risk-benefit for raised baseline BP; hold threshold >140/90 is a clinic setting (unconfirmed).
def c3_pre_session_bp(entry: CheckInFacts, history: History, settings: ClinicRuleSettings) -> Finding | None:
    systolic, diastolic = entry.bp_systolic, entry.bp_diastolic
    above = (systolic or 0) > settings.bp_hold_systolic or (diastolic or 0) > settings.bp_hold_diastolic
    if not above or not _is_pre_session(entry, history, settings):
        return None
    limit = f"{settings.bp_hold_systolic}/{settings.bp_hold_diastolic}"
    return _finding("C3", f"Pre-session home BP {_bp(systolic, diastolic)} is above the hold threshold {limit}.")


# C4 — PI / Medication Guide: sedation and respiratory depression after leaving the clinic.
def c4_sedation_breathing(entry: CheckInFacts, history: History, settings: ClinicRuleSettings) -> Finding | None:
    flags = entry.symptoms & C4_SYMPTOMS
    if not flags:
        return None
    return _finding("C4", f"Reported after treatment: {_listed(flags)}.", show_crisis=True)


def _persisting(entry: CheckInFacts, settings: ClinicRuleSettings) -> bool:
    # No known recent session means the effect is not the same-day kind.
    hours = entry.hours_since_session
    return hours is None or hours >= settings.persisting_after_hours


# C5 — effects normally resolve the same day; psychosis caution in the PI.
def c5_persisting_perception(entry: CheckInFacts, history: History, settings: ClinicRuleSettings) -> Finding | None:
    psychotic = entry.symptoms & {"hallucinations", "paranoia"}
    persisting = _reported_effects(entry, ("dissociation", "confusion", "blurred_vision"))
    persisting = persisting if _persisting(entry, settings) else []
    if not psychotic and not persisting:
        return None
    return _finding("C5", f"Reported: {_listed(set(psychotic) | set(persisting))} (not the usual same-day effect).")


# C6 — PI: monitor urinary symptoms and refer; ketamine-associated uropathy.
def c6_bladder_severe(entry: CheckInFacts, history: History, settings: ClinicRuleSettings) -> Finding | None:
    signs = set(entry.symptoms & {"severe_pelvic_pain", "cannot_pass_urine"})
    signs |= set(_reported_effects(entry, ("blood_in_urine",)))
    return _finding("C6", f"Reported: {_listed(signs)}.") if signs else None


# C7 — as C6: new urinary frequency, urgency or pain ("new" = not reported at the previous check-in).
def c7_urinary_new(entry: CheckInFacts, history: History, settings: ClinicRuleSettings) -> Finding | None:
    previous = history.previous_side_effects
    if entry.effect("urinary") == 0 or (previous is not None and previous.get("urinary", 0) > 0):
        return None
    return _finding("C7", f"New urinary frequency, urgency or pain (severity {entry.effect('urinary')} of 3).")


# C8 — nausea and vomiting are common but normally same-day.
def c8_cannot_keep_fluids(entry: CheckInFacts, history: History, settings: ClinicRuleSettings) -> Finding | None:
    if "cannot_keep_fluids_down" not in entry.symptoms:
        return None
    return _finding("C8", "Vomiting, unable to keep fluids down for more than 24 hours.")


# C9 — PI 5.3/9.2 (abuse and dependence); Swainson 2022 misuse red flags.
def c9_misuse_signal(entry: CheckInFacts, history: History, settings: ClinicRuleSettings) -> Finding | None:
    signals = set(entry.symptoms & {"extra_dose_wanted", "used_outside_treatment"})
    signals |= set(_reported_effects(entry, ("cravings",)))
    return _finding("C9", f"Possible misuse or dependence signal: {_listed(signals)}.") if signals else None


# C10 — PI counselling: no driving until the next day after restful sleep. Medium when repeated.
def c10_driving(entry: CheckInFacts, history: History, settings: ClinicRuleSettings) -> Finding | None:
    if entry.effect("drove_after_session") == 0:
        return None
    count = history.driving_reports_30d + 1
    if count >= settings.driving_repeat_count:
        return _finding("C10", f"Drove on a treatment day ({count} times in 30 days).", Severity.MEDIUM)
    return _finding("C10", "Drove on a treatment day.")


# C11 — PI pregnancy counselling (may cause fetal harm).
def c11_pregnancy(entry: CheckInFacts, history: History, settings: ClinicRuleSettings) -> Finding | None:
    return _finding("C11", "Reports pregnancy or planning a pregnancy.") if entry.pregnancy else None


# C12 — common, transient same-day effects: dashboard summary only.
def c12_common_effects(entry: CheckInFacts, history: History, settings: ClinicRuleSettings) -> Finding | None:
    effects = set(_reported_effects(entry, ("nausea", "dizziness", "headache", "blurred_vision")))
    if "severe_headache" in entry.symptoms:
        effects.discard("headache")  # that headache is C1's
    if _persisting(entry, settings):
        effects.discard("blurred_vision")  # persisting vision change is C5's
    return _finding("C12", f"Common effects: {_listed(effects)}.") if effects else None


# The pre-session checklist's blood pressure, judged as a pre-session home reading. Without symptom
# questions on the checklist, C1 cannot apply; a crisis-range reading is C2 (re-check not recorded).
def prep_bp_crisis(entry: SessionPrepFacts, history: History, settings: ClinicRuleSettings) -> Finding | None:
    return c2_bp_crisis_no_symptoms(entry.as_reading(), history, settings)


def prep_bp_above_hold(entry: SessionPrepFacts, history: History, settings: ClinicRuleSettings) -> Finding | None:
    return c3_pre_session_bp(entry.as_reading(), history, settings)


PREP_RULES = (prep_bp_crisis, prep_bp_above_hold)

PHYSICAL_RULES = (
    c1_emergency_symptoms,
    c2_bp_crisis_no_symptoms,
    c3_pre_session_bp,
    c4_sedation_breathing,
    c5_persisting_perception,
    c6_bladder_severe,
    c7_urinary_new,
    c8_cannot_keep_fluids,
    c9_misuse_signal,
    c10_driving,
    c11_pregnancy,
    c12_common_effects,
)
