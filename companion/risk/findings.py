"""Severity, findings and the rule catalogue of clinical.md section 9, as data.

The catalogue is what the admin screen lists (id, title, default severity, who is told, what the
patient sees, source) and what a clinic switches on and off; ``rules.py`` holds the logic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """Alert tiers of clinical.md section 9, most urgent first."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """Higher is more urgent: low 1 ... critical 4. Sort with ``key=lambda s: s.rank``."""
        return _RANK[self]

    def at_least(self, other: Severity) -> bool:
        return self.rank >= other.rank


_RANK = {Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3, Severity.CRITICAL: 4}


def most_severe(severities: Iterable[Severity]) -> Severity | None:
    return max(severities, key=lambda severity: severity.rank, default=None)


@dataclass(frozen=True)
class Finding:
    """One rule's verdict on one entry.

    ``reason`` is a plain sentence for clinicians; it never quotes a patient's free text.
    ``creates_alert`` is False only for a private journal match (product decision 4): the patient
    sees help, and staff hear only the follow-up screener's result.
    """

    rule_id: str
    severity: Severity
    reason: str
    show_crisis: bool = False
    launch_followup: bool = False
    creates_alert: bool = True
    suggest_questionnaire: str | None = None  # e.g. B6 prompts a PHQ-9


def highest(findings: Iterable[Finding]) -> Finding | None:
    return max(findings, key=lambda finding: finding.severity.rank, default=None)


@dataclass(frozen=True)
class RuleSpec:
    rule_id: str
    title: str
    severity: Severity
    notify: str
    patient_sees: str
    source: str


def _spec(rule_id: str, title: str, severity: Severity, notify: str, patient_sees: str, source: str) -> RuleSpec:
    return RuleSpec(rule_id, title, severity, notify, patient_sees, source)


C, H, M, L = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW

RULE_SPECS: tuple[RuleSpec, ...] = (
    _spec(
        "A1",
        "Imminent suicide risk (C-SSRS high or ASQ acute positive)",
        C,
        "On-call clinician + treating prescriber",
        "Crisis card at once",
        "Columbia triage guidelines; NPSG 15.01.01; ASQ acute positive (product decision 3)",
    ),
    _spec(
        "A2",
        "PHQ-9 item 9 = 2 or 3",
        H,
        "Treating clinician / care manager",
        "Gentle check-in, follow-up screener, crisis resources, safety plan",
        "Simon 2013; VA HRs",
    ),
    _spec("A3", "PHQ-9 item 9 = 1", H, "Treating clinician / care manager", "As A2", "NPSG; Zero Suicide"),
    _spec(
        "A4",
        "Moderate suicide risk (C-SSRS moderate or ASQ non-acute positive)",
        H,
        "Treating clinician; supervising psychiatrist copied",
        "Crisis resources, safety plan, expected contact time",
        "C-SSRS three-tier convention (moderate tier unconfirmed); ASQ positive (product decision 3)",
    ),
    _spec(
        "A5",
        "Active suicidal thoughts (C-SSRS Q2 yes only, or daily check-in 'active')",
        H,
        "Treating clinician",
        "Crisis resources + safety plan",
        "Active ideation under a suicidality boxed warning (conservative choice)",
    ),
    _spec(
        "A5b",
        "Passive wish to be dead (C-SSRS Q1 only, or daily 'passive' with negative follow-up)",
        M,
        "Treating clinician",
        "Supportive message, crisis resources, safety plan",
        "Columbia: low risk -> outpatient follow-up and crisis lines",
    ),
    _spec(
        "A6",
        "Self-harm or suicide language in shared free text",
        H,
        "Treating clinician",
        "Supportive prompt -> follow-up screener -> crisis card",
        "Real-time review of remote self-harm reports (IRB guidance); keyword detection not validated",
    ),
    _spec(
        "A7",
        "Patient pressed 'I need help now'",
        C,
        "On-call clinician",
        "Crisis card at once",
        "Patient-initiated crisis",
    ),
    _spec(
        "A8",
        "Item 9 skipped or follow-up screener abandoned",
        M,
        "Treating clinician",
        "Crisis resources; option to finish later",
        "Missing data must not be read as 'no risk'",
    ),
    _spec(
        "B1",
        "PHQ-9 rose >= 5 vs previous or lowest since start",
        M,
        "Treating clinician",
        "Your team will review; crisis resources in the footer",
        "MCID 5 points (Löwe 2004), derived",
    ),
    _spec("B2", "PHQ-9 moved into the severe band", M, "Treating clinician", "As B1", "Kroenke 2001 bands"),
    _spec(
        "B3",
        "End of induction with < 50% fall from baseline",
        L,
        "Prescriber (dashboard)",
        "Nothing special",
        "PI: judge benefit at end of induction",
    ),
    _spec(
        "B4",
        "Response or remission reached",
        L,
        "Prescriber (dashboard)",
        "Optional encouragement",
        "PI: lowest dosing frequency that keeps the benefit",
    ),
    _spec("B5", "GAD-7 newly >= 15", L, "Dashboard", "-", "Spitzer 2006 bands (threshold choice is ours)"),
    _spec(
        "B6",
        "Daily mood fell sharply for several days vs 14-day average",
        M,
        "Treating clinician",
        "Prompt to complete PHQ-9",
        "Proposed; no validated threshold (unconfirmed)",
    ),
    _spec(
        "C1",
        "Possible hypertensive emergency or stroke symptoms",
        C,
        "On-call clinician",
        "Call emergency services now",
        "AHA crisis category; PI BP warnings",
    ),
    _spec(
        "C2",
        "Home BP in crisis range without symptoms, still high on re-check",
        H,
        "Treating clinician / prescriber",
        "Rest and re-check; contact clinic or urgent care today",
        "AHA guidance",
    ),
    _spec(
        "C3",
        "Pre-session home BP above the clinic hold threshold",
        L,
        "Clinic staff for next session",
        "Tell the clinic; they will re-check before dosing",
        "PI risk-benefit (threshold unconfirmed)",
    ),
    _spec(
        "C4",
        "Cannot stay awake, fainting or difficulty breathing after a session",
        C,
        "On-call clinician",
        "Call emergency services now; tell your companion",
        "PI / Medication Guide",
    ),
    _spec(
        "C5",
        "Dissociation, confusion or vision change persisting, or hallucinations/paranoia",
        H,
        "Prescriber",
        "Do not drive; clinic will call",
        "Effects normally resolve same day; PI",
    ),
    _spec(
        "C6",
        "Blood in urine, severe bladder/pelvic pain, or cannot pass urine",
        H,
        "Prescriber",
        "Seek same-day care if severe; clinic will call",
        "PI; ketamine uropathy",
    ),
    _spec(
        "C7",
        "New urinary frequency, urgency or painful urination",
        M,
        "Prescriber",
        "Your team will review; report blood",
        "As C6",
    ),
    _spec(
        "C8",
        "Vomiting, cannot keep fluids down > 24 h",
        M,
        "Treating clinician",
        "Hydration advice; contact clinic",
        "Nausea/vomiting normally same-day",
    ),
    _spec("C9", "Misuse or dependence signal", M, "Prescriber", "Neutral acknowledgement", "PI 5.3/9.2; Swainson 2022"),
    _spec(
        "C10",
        "Drove on a treatment day (Medium if repeated)",
        L,
        "Dashboard / clinic",
        "No driving until the next day after restful sleep",
        "PI counselling",
    ),
    _spec(
        "C11",
        "Pregnancy or planning pregnancy",
        M,
        "Prescriber",
        "Please tell your prescriber",
        "PI pregnancy counselling",
    ),
    _spec(
        "C12",
        "Common same-day effects",
        L,
        "Dashboard summary",
        "Reassurance and self-care tips",
        "Common, transient effects",
    ),
)

RULES: dict[str, RuleSpec] = {spec.rule_id: spec for spec in RULE_SPECS}
RULE_IDS: tuple[str, ...] = tuple(RULES)


def finding_for(rule_id: str, reason: str, severity: Severity | None = None, **flags: Any) -> Finding:
    """A finding with the rule's catalogue severity unless a rule-specific one is given."""
    return Finding(rule_id, severity or RULES[rule_id].severity, reason, **flags)
