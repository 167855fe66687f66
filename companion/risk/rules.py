"""Default alert rules of clinical.md section 9 as pure functions (product decision 6).

``evaluate(entry, history, settings)`` is the single entry point: it runs every rule that applies to
the entry's kind and returns the findings of the rules the clinic has switched on, most severe first.
``assess`` returns the same findings plus what the patient must see. Switching a rule off stops its
alert, never the patient's crisis help: crisis and follow-up prompts come from every rule that
fired, on or off (section 9 design rules: patient safety messaging never waits on anything).

Mapping of the daily safety answer and the ASQ onto rule ids (product decision 3):
check-in "active" -> A5 High; "passive" -> A5b Medium (raised at once, because a follow-up that is
never finished cannot be seen by a pure function later); ASQ acute positive -> A1 Critical;
ASQ non-acute positive -> A4 High; negative follow-up after "passive" -> A5b Medium; abandoned
follow-up -> A8 Medium, High after Q2 yes or an "active" answer. D1/D2 are not implemented yet.

Physical-health rules (C1-C12) live in ``rules_physical.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from statistics import fmean
from typing import Any

from companion.questionnaires.instruments import INSTRUMENTS
from companion.questionnaires.scoring import (
    AsqOutcome,
    AsqResult,
    CssrsResult,
    CssrsRisk,
    Gad7Result,
    Phq9Result,
    response_status,
    worsening,
)
from companion.risk.facts import (
    CheckInFacts,
    DayMood,
    Entry,
    FollowupTrigger,
    FreeTextFacts,
    HelpRequest,
    History,
    QuestionnaireFacts,
    SafetyAnswer,
    SessionPrepFacts,
)
from companion.risk.findings import Finding, Severity
from companion.risk.findings import finding_for as _finding
from companion.risk.rule_settings import ClinicRuleSettings, RuleSettingsError
from companion.risk.rules_physical import PHYSICAL_RULES, PREP_RULES
from companion.risk.screening import screen_text

__all__ = [
    "Assessment",
    "CheckInFacts",
    "ClinicRuleSettings",
    "DayMood",
    "Entry",
    "Finding",
    "FollowupTrigger",
    "FreeTextFacts",
    "HelpRequest",
    "History",
    "QuestionnaireFacts",
    "RuleSettingsError",
    "SafetyAnswer",
    "Severity",
    "assess",
    "evaluate",
    "rules_for",
]

Rule = Callable[[Any, History, ClinicRuleSettings], "Finding | None"]


def _suicide_finding(rule_id: str, reason: str, severity: Severity | None = None) -> Finding:
    return _finding(rule_id, reason, severity, show_crisis=True)


# --- A: suicide risk ----------------------------------------------------------------------------

_CSSRS_HIGH_ANSWERS = {"q4": "intent to act (Q4)", "q5": "a plan with intent (Q5)"}


def _cssrs_high_reason(result: CssrsResult) -> str:
    parts = [text for key, text in _CSSRS_HIGH_ANSWERS.items() if result.said_yes(key)]
    if result.said_yes("q6") and result.answers.get("q6b") != 0:
        timing = "in the past 3 months" if result.said_yes("q6b") else "timing not answered"
        parts.append(f"suicidal behaviour (Q6, {timing})")
    return "C-SSRS high risk: " + ", ".join(parts) + "."


# A1 — Columbia triage guidelines (imminent-risk answers); NPSG 15.01.01; ASQ acute (decision 3).
def a1_imminent_risk(entry: QuestionnaireFacts, history: History, settings: ClinicRuleSettings) -> Finding | None:
    result = entry.result
    if isinstance(result, CssrsResult) and result.risk is CssrsRisk.HIGH:
        return _suicide_finding("A1", _cssrs_high_reason(result))
    if isinstance(result, AsqResult) and result.outcome is AsqOutcome.ACUTE_POSITIVE:
        return _suicide_finding("A1", "ASQ acute positive: thoughts of killing themselves right now (Q5).")
    return None


def _item9_finding(rule_id: str, item9: int) -> Finding:
    reason = f"PHQ-9 item 9 (thoughts of being better off dead or of self-harm) answered {item9} of 3."
    return _finding(rule_id, reason, show_crisis=True, launch_followup=True)


# A2 — item 9 frequency predicts attempts and deaths (Simon 2013; VA hazard ratios).
def a2_item9_high(entry: QuestionnaireFacts, history: History, settings: ClinicRuleSettings) -> Finding | None:
    result = entry.result
    if isinstance(result, Phq9Result) and result.item9 in (2, 3):
        return _item9_finding("A2", result.item9)  # type: ignore[arg-type]
    return None


# A3 — any positive item 9 is a positive screen needing assessment (NPSG 15.01.01; Zero Suicide).
def a3_item9_any(entry: QuestionnaireFacts, history: History, settings: ClinicRuleSettings) -> Finding | None:
    result = entry.result
    if isinstance(result, Phq9Result) and result.item9 == 1:
        return _item9_finding("A3", 1)
    return None


# A4 — C-SSRS three-tier convention, moderate tier (unconfirmed); ASQ non-acute positive (decision 3).
def a4_moderate_risk(entry: QuestionnaireFacts, history: History, settings: ClinicRuleSettings) -> Finding | None:
    result = entry.result
    if isinstance(result, CssrsResult) and result.risk is CssrsRisk.MODERATE:
        what = "thinking about a method (Q3)"
        if not result.said_yes("q3"):
            what = "suicidal behaviour over 3 months ago (Q6)"
        return _suicide_finding("A4", f"C-SSRS moderate risk: {what}.")
    if isinstance(result, AsqResult) and result.outcome is AsqOutcome.POSITIVE:
        declined = " (declined to answer: " + ", ".join(result.declined) + ")" if result.declined else ""
        return _suicide_finding("A4", f"ASQ positive screen, not acute{declined}; brief safety assessment needed.")
    return None


# A5 — active ideation during a treatment with a suicidality boxed warning (conservative choice).
def a5_active_ideation(entry: QuestionnaireFacts, history: History, settings: ClinicRuleSettings) -> Finding | None:
    result = entry.result
    if isinstance(result, CssrsResult) and result.risk is CssrsRisk.LOW and result.said_yes("q2"):
        return _suicide_finding("A5", "C-SSRS: thoughts of killing themselves (Q2), no method, intent or plan.")
    return None


def _negative_followup(result: object) -> bool:
    if isinstance(result, AsqResult):
        return result.outcome is AsqOutcome.NEGATIVE
    return isinstance(result, CssrsResult) and result.risk is CssrsRisk.NONE and not result.abandoned


# A5b — Columbia: low risk -> outpatient follow-up and crisis lines; decision 3 (passive + negative).
def a5b_passive_wish(entry: QuestionnaireFacts, history: History, settings: ClinicRuleSettings) -> Finding | None:
    result = entry.result
    if isinstance(result, CssrsResult) and result.risk is CssrsRisk.LOW and not result.said_yes("q2"):
        return _suicide_finding("A5b", "C-SSRS: wished to be dead (Q1) only.")
    if entry.trigger is FollowupTrigger.CHECKIN_PASSIVE and _negative_followup(result):
        return _suicide_finding("A5b", "Passive thoughts of death in the check-in; follow-up screen negative.")
    return None


def _abandoned_severity(entry: QuestionnaireFacts, said_q2_yes: bool) -> Severity:
    after_active = entry.trigger is FollowupTrigger.CHECKIN_ACTIVE
    return Severity.HIGH if said_q2_yes or after_active else Severity.MEDIUM


# A8 — missing data must not be read as "no risk" (section 1 missing items; section 9).
def a8_missing_answers(entry: QuestionnaireFacts, history: History, settings: ClinicRuleSettings) -> Finding | None:
    result = entry.result
    if isinstance(result, Phq9Result) and result.item9_unknown:
        reason = "PHQ-9 item 9 (thoughts of death or self-harm) was skipped: risk unknown."
        return _finding("A8", reason, show_crisis=True, launch_followup=True)
    if isinstance(result, (CssrsResult, AsqResult)) and result.abandoned:
        said_q2 = isinstance(result, CssrsResult) and result.said_yes("q2")
        name = INSTRUMENTS[entry.instrument].short_title
        reason = f"{name} follow-up left unfinished (unanswered: {', '.join(result.missing)})."
        return _suicide_finding("A8", reason, _abandoned_severity(entry, said_q2))
    return None


# A5 / A5b on the daily check-in — product decision 3 (active -> High; passive -> Medium).
def checkin_safety_answer(entry: CheckInFacts, history: History, settings: ClinicRuleSettings) -> Finding | None:
    if entry.safety is SafetyAnswer.ACTIVE:
        reason = "Daily check-in: active thoughts of death or self-harm since the last check-in."
        return _finding("A5", reason, show_crisis=True, launch_followup=True)
    if entry.safety is SafetyAnswer.PASSIVE:
        reason = "Daily check-in: passive thoughts of death since the last check-in."
        return _finding("A5b", reason, show_crisis=True, launch_followup=True)
    return None


def _text_finding(text: str, shared: bool) -> Finding | None:
    screened = screen_text(text)
    if not screened.matched:
        return None
    topics = ", ".join(sorted(category.replace("_", " ") for category in screened.categories))
    if shared:
        reason = f"Shared text contains language about: {topics}. Keyword match, not validated."
        return _finding("A6", reason, show_crisis=True, launch_followup=True)
    reason = "Private text matched risk language; help shown to the patient, staff not told."
    return _finding("A6", reason, show_crisis=True, launch_followup=True, creates_alert=False)


# A6 — real-time review of remote self-harm reports (IRB guidance); decision 4 (private text stays private).
def a6_free_text(entry: FreeTextFacts, history: History, settings: ClinicRuleSettings) -> Finding | None:
    return _text_finding(entry.text, entry.shared)


# A6 on a check-in note — the same screen for mood-log notes (section 8, integration notes).
def a6_checkin_note(entry: CheckInFacts, history: History, settings: ClinicRuleSettings) -> Finding | None:
    return _text_finding(entry.note, entry.note_shared) if entry.note else None


# A7 — patient-initiated crisis.
def a7_help_now(entry: HelpRequest, history: History, settings: ClinicRuleSettings) -> Finding | None:
    return _suicide_finding("A7", 'The patient pressed "I need help now".')


# --- B: course of treatment ----------------------------------------------------------------------


def _phq9_total(entry: QuestionnaireFacts) -> int | None:
    return entry.result.total if isinstance(entry.result, Phq9Result) else None


# B1 — MCID 5 points (Löwe 2004) used as worsening (derived); boxed warning on clinical worsening.
def b1_worsening(entry: QuestionnaireFacts, history: History, settings: ClinicRuleSettings) -> Finding | None:
    total = _phq9_total(entry)
    if total is None:
        return None
    # The baseline is the first "lowest" when the caller did not work out a lower one (section 1).
    lowest = history.lowest_phq9_since_start
    lowest = history.baseline_phq9 if lowest is None else lowest
    change = worsening(history.previous_phq9, total, lowest, settings.worsening_points)
    if not change.worsened:
        return None
    comparisons = (("previous", change.rise_vs_previous), ("lowest since start", change.rise_vs_lowest))
    rises = [f"+{rise} vs {name}" for name, rise in comparisons if (rise or 0) >= settings.worsening_points]
    return _finding("B1", f"PHQ-9 total {total}: {', '.join(rises)}.")


# B2 — Kroenke 2001 bands: moved into severe (>= 20) from a lower band.
def b2_severe_band(entry: QuestionnaireFacts, history: History, settings: ClinicRuleSettings) -> Finding | None:
    total, previous = _phq9_total(entry), history.previous_phq9
    if total is None or previous is None or not previous < settings.severe_phq9 <= total:
        return None
    return _finding("B2", f"PHQ-9 total {total} is in the severe band (previous {previous}).")


def _induction_done(entry: QuestionnaireFacts, history: History, settings: ClinicRuleSettings) -> bool:
    if history.sessions_attended >= settings.induction_sessions:
        return True
    start, today = history.first_session_on, entry.local_date
    return start is not None and today is not None and (today - start).days >= settings.induction_days


def _treatment_started(history: History) -> bool:
    return history.sessions_attended > 0 or history.first_session_on is not None


# B3 — PI: judge benefit at the end of induction (week 4 / 8 doses) before continuing.
def b3_no_response_after_induction(
    entry: QuestionnaireFacts, history: History, settings: ClinicRuleSettings
) -> Finding | None:
    total, baseline = _phq9_total(entry), history.baseline_phq9
    if total is None or baseline is None or not _induction_done(entry, history, settings):
        return None
    status = response_status(baseline, total)
    if status.response:
        return None
    change = _percent(status.percent_change)
    return _finding("B3", f"End of induction: PHQ-9 {baseline} -> {total} ({change}), under 50% fall.")


def _percent(change: float | None) -> str:
    return "change unknown" if change is None else f"{change:+.1f}%"


def _milestones(baseline: int, total: int | None) -> set[str]:
    if total is None:
        return set()
    status = response_status(baseline, total)
    return {name for name, reached in (("response", status.response), ("remission", status.remission)) if reached}


# B4 — PI: space doses to the lowest frequency that keeps response or remission. Fires when newly reached.
def b4_response_or_remission(
    entry: QuestionnaireFacts, history: History, settings: ClinicRuleSettings
) -> Finding | None:
    total, baseline = _phq9_total(entry), history.baseline_phq9
    if total is None or baseline is None or not _treatment_started(history):
        return None
    new = _milestones(baseline, total) - _milestones(baseline, history.previous_phq9)
    if not new:
        return None
    change = _percent(response_status(baseline, total).percent_change)
    reached = " and ".join(sorted(new, reverse=True))
    return _finding("B4", f"PHQ-9 {baseline} -> {total} ({change}): {reached} reached.")


# B5 — Spitzer 2006 bands; the >= 15 threshold choice is ours.
def b5_anxiety_severe(entry: QuestionnaireFacts, history: History, settings: ClinicRuleSettings) -> Finding | None:
    result, previous, threshold = entry.result, history.previous_gad7, settings.gad7_high
    if not isinstance(result, Gad7Result) or result.total is None or result.total < threshold:
        return None
    if previous is not None and previous >= threshold:
        return None
    return _finding("B5", f"GAD-7 total {result.total} (previous {previous if previous is not None else 'none'}).")


def _moods_by_day(entry: CheckInFacts, checkins: Sequence[DayMood]) -> dict[date, int]:
    moods = {checkin.local_date: checkin.mood for checkin in checkins}
    moods[entry.local_date] = entry.mood  # this entry is the day's latest revision
    return moods


# B6 — proposed; no validated threshold (unconfirmed): mood well below the 14-day average for 3 days.
def b6_mood_drop(entry: CheckInFacts, history: History, settings: ClinicRuleSettings) -> Finding | None:
    moods = _moods_by_day(entry, history.checkins)
    streak = [entry.local_date - timedelta(days=offset) for offset in range(settings.mood_drop_days)]
    if any(day not in moods for day in streak):
        return None
    window_start = streak[-1] - timedelta(days=settings.mood_average_days)
    earlier = [mood for day, mood in moods.items() if window_start <= day < streak[-1]]
    if len(earlier) < settings.mood_baseline_min_days:
        return None
    average = fmean(earlier)
    if any(moods[day] > average - settings.mood_drop_points for day in streak):
        return None
    ceiling = average - settings.mood_drop_points
    reason = f"Mood at or below {ceiling:.1f} for {len(streak)} days (earlier average {average:.1f})."
    return _finding("B6", reason, suggest_questionnaire="phq9")


# --- Evaluation ----------------------------------------------------------------------------------

QUESTIONNAIRE_RULES: tuple[Rule, ...] = (
    a1_imminent_risk,
    a2_item9_high,
    a3_item9_any,
    a4_moderate_risk,
    a5_active_ideation,
    a5b_passive_wish,
    a8_missing_answers,
    b1_worsening,
    b2_severe_band,
    b3_no_response_after_induction,
    b4_response_or_remission,
    b5_anxiety_severe,
)
CHECKIN_RULES: tuple[Rule, ...] = (checkin_safety_answer, a6_checkin_note, b6_mood_drop, *PHYSICAL_RULES)
FREE_TEXT_RULES: tuple[Rule, ...] = (a6_free_text,)
HELP_RULES: tuple[Rule, ...] = (a7_help_now,)


def rules_for(entry: Entry) -> tuple[Rule, ...]:
    if isinstance(entry, CheckInFacts):
        return CHECKIN_RULES
    if isinstance(entry, QuestionnaireFacts):
        return QUESTIONNAIRE_RULES
    if isinstance(entry, FreeTextFacts):
        return FREE_TEXT_RULES
    if isinstance(entry, HelpRequest):
        return HELP_RULES
    if isinstance(entry, SessionPrepFacts):
        return PREP_RULES
    raise TypeError(f"not a rule entry: {type(entry).__name__}")


@dataclass(frozen=True)
class Assessment:
    findings: tuple[Finding, ...]  # switched-on rules only, most severe first
    show_crisis: bool
    launch_followup: bool
    followup_instrument: str | None  # "asq" or "cssrs" when a follow-up screener must open


def _by_severity(findings: list[Finding]) -> tuple[Finding, ...]:
    return tuple(sorted(findings, key=lambda finding: -finding.severity.rank))


def assess(entry: Entry, history: History | None = None, settings: ClinicRuleSettings | None = None) -> Assessment:
    history = history or History()
    settings = settings or ClinicRuleSettings()
    fired = [finding for rule in rules_for(entry) if (finding := rule(entry, history, settings))]
    launch = any(finding.launch_followup for finding in fired)
    return Assessment(
        findings=_by_severity([finding for finding in fired if settings.enabled(finding.rule_id)]),
        show_crisis=any(finding.show_crisis for finding in fired),
        launch_followup=launch,
        followup_instrument=settings.followup_instrument if launch else None,
    )


def evaluate(entry: Entry, history: History | None = None, settings: ClinicRuleSettings | None = None) -> list[Finding]:
    """Findings of the clinic's switched-on rules for one entry, most severe first."""
    return list(assess(entry, history, settings).findings)
