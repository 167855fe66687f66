"""The one place where an entry's risk findings are evaluated, inside the entry's transaction.

Every entry service (check-in, questionnaire response, journal entry, session reflection and "I
need help now") calls ``evaluate_entry`` after inserting its row and before its transaction
commits, so an alert can never be missing for a committed entry (REL-01). This module turns rows
into the pure facts of ``risk.facts`` with a handful of queries, runs ``rules.assess`` and hands
the alerting findings to ``alerts.service.raise_alerts`` in the same transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from companion.accounts.models import Clinic
from companion.alerts.service import Source, raise_alerts
from companion.checkins.models import CheckIn, CheckInSideEffect
from companion.questionnaires.instruments import INSTRUMENTS
from companion.questionnaires.models import QuestionnaireResponse
from companion.questionnaires.scoring import PastScore, score_asq, score_cssrs, score_gad7, score_phq9
from companion.risk.facts import (
    SIDE_EFFECT_CODES,
    SYMPTOM_FLAGS,
    CheckInFacts,
    DayMood,
    Entry,
    FreeTextFacts,
    HelpRequest,
    History,
    QuestionnaireFacts,
)
from companion.risk.findings import Finding
from companion.risk.rule_settings import ClinicRuleSettings, RuleSettingsError
from companion.risk.rules import assess
from companion.treatments.models import SessionStatus, TreatmentSession

log = logging.getLogger("companion.risk")

HISTORY_DAYS = 30
SCORERS = {"phq9": score_phq9, "gad7": score_gad7, "asq": score_asq, "cssrs": score_cssrs}


@dataclass(frozen=True)
class EntryEvent:
    """What was just written: its kind ("checkin", "journal", "reflection", "questionnaire",
    "help"), patient and row."""

    kind: str
    clinic_id: int
    patient_id: int
    entry: Any


@dataclass(frozen=True)
class RiskOutcome:
    findings: tuple[Finding, ...] = ()
    show_crisis: bool = False
    followup: str | None = None  # "asq" or "cssrs" when the follow-up screener must open
    alerts: tuple[Any, ...] = field(default_factory=tuple)
    suggest: str | None = None  # a questionnaire the rules suggest (B6 -> "phq9")

    @property
    def severity(self) -> str | None:
        return str(self.findings[0].severity) if self.findings else None


def rule_settings_for(clinic: Clinic) -> ClinicRuleSettings:
    """The clinic's rule settings (``clinic.settings["risk"]``, plus a top-level ``cssrs_enabled``).

    A malformed saved setting never blocks an entry: the defaults (every rule on) apply and the
    problem is logged for the admin.
    """
    data = dict((clinic.settings or {}).get("risk") or {})
    if "cssrs_enabled" in (clinic.settings or {}):
        data["cssrs_enabled"] = clinic.settings["cssrs_enabled"]
    try:
        return ClinicRuleSettings.from_dict(data)
    except RuleSettingsError as exc:
        log.error("clinic %s has invalid rule settings, using defaults: %s", clinic.id, exc)
        return ClinicRuleSettings(cssrs_enabled=data.get("cssrs_enabled") is True)


async def evaluate_entry(session: AsyncSession, event: EntryEvent) -> RiskOutcome:
    """Evaluate the risk rules for ``event`` in the caller's transaction and write any alerts."""
    clinic = await session.get_one(Clinic, event.clinic_id)
    settings = rule_settings_for(clinic)
    facts, history = await _facts(session, event)
    assessment = assess(facts, history, settings)
    source = Source(event.kind, event.entry.code)
    alerts = await raise_alerts(session, clinic, event.patient_id, assessment.findings, source, settings)
    suggest = next((f.suggest_questionnaire for f in assessment.findings if f.suggest_questionnaire), None)
    return RiskOutcome(
        findings=assessment.findings,
        show_crisis=assessment.show_crisis,
        followup=assessment.followup_instrument,
        alerts=tuple(alerts),
        suggest=suggest,
    )


async def _facts(session: AsyncSession, event: EntryEvent) -> tuple[Entry, History | None]:
    row = event.entry
    if event.kind == "checkin":
        history, last_session = await _history(session, event.patient_id, row.created_at, row.local_date, row.id)
        hours = (row.created_at - last_session).total_seconds() / 3600 if last_session else None
        if "side_effects" in inspect(row).unloaded:  # built without its collection: load it here, not lazily
            await session.refresh(row, ["side_effects"])
        return _checkin_facts(row, hours), history
    if event.kind == "questionnaire":
        history, _ = await _history(session, event.patient_id, row.created_at, row.local_date, None, row.id)
        return _questionnaire_facts(row), history
    if event.kind in ("journal", "reflection"):
        return FreeTextFacts(text=row.body or "", shared=bool(row.shared)), None
    if event.kind == "help":
        return HelpRequest(), None
    raise ValueError(f"unknown entry kind {event.kind!r}")


def _checkin_facts(row: CheckIn, hours_since_session: float | None = None) -> CheckInFacts:
    effects = {e.effect: e.severity for e in row.side_effects if e.effect in SIDE_EFFECT_CODES}
    return CheckInFacts(
        local_date=row.local_date,
        mood=row.mood,
        anxiety=row.anxiety,
        energy=row.energy,
        safety=row.safety,
        side_effects=effects,
        bp_systolic=row.bp_systolic,
        bp_diastolic=row.bp_diastolic,
        symptoms=frozenset(code for code in (row.symptoms or []) if code in SYMPTOM_FLAGS),
        pregnancy="pregnancy" in (row.symptoms or []),
        note=row.note or "",
        note_shared=True,  # check-in notes are visible to the care team
        hours_since_session=hours_since_session,
    )


async def reassess(session: AsyncSession, event: EntryEvent) -> RiskOutcome:
    """The same assessment without writing anything: an idempotent replay of a risky entry must
    bring the crisis help back too (its alerts were written the first time)."""
    clinic = await session.get_one(Clinic, event.clinic_id)
    settings = rule_settings_for(clinic)
    facts, history = await _facts(session, event)
    assessment = assess(facts, history, settings)
    return RiskOutcome(
        findings=assessment.findings, show_crisis=assessment.show_crisis, followup=assessment.followup_instrument
    )


def _questionnaire_facts(row: QuestionnaireResponse) -> QuestionnaireFacts:
    answers = {key: value for key, value in (row.answers or {}).items() if key in INSTRUMENTS[row.instrument].item_keys}
    result = SCORERS[row.instrument](answers)
    return QuestionnaireFacts(row.instrument, result, local_date=row.local_date, trigger=row.trigger)


async def _history(
    session: AsyncSession,
    patient_id: int,
    at: datetime,
    local_day: date,
    checkin_id: int | None,
    response_id: int | None = None,
) -> tuple[History, datetime | None]:
    """The patient's recent history in four small queries (check-ins and their side effects,
    sessions, PHQ-9/GAD-7 totals), and when their latest session before ``at`` started."""
    moods, effects = await _recent_checkins(session, patient_id, local_day, checkin_id)
    sessions = await _session_times(session, patient_id)
    scores = await _scores(session, patient_id, response_id)
    past = [s for s in sessions if s[0] <= at and s[1] in (SessionStatus.ATTENDED, SessionStatus.SCHEDULED)]
    future = [s[0] for s in sessions if s[0] > at and s[1] == SessionStatus.SCHEDULED]
    previous_day = max(moods, default=None)
    driving = sum(1 for day_effects in effects.values() if day_effects.get("drove_after_session", 0) > 0)
    gad7 = [(taken, total) for instrument, taken, total in scores if instrument == "gad7"]
    history = History.from_records(
        tuple(PastScore(taken, total) for instrument, taken, total in scores if instrument == "phq9"),
        min((s[0] for s in past), default=None),
        checkins=tuple(DayMood(day, mood) for day, mood in sorted(moods.items())),
        previous_gad7=gad7[-1][1] if gad7 else None,
        sessions_attended=len(past),
        driving_reports_30d=driving,
        previous_side_effects=effects.get(previous_day, {}) if previous_day else None,
        hours_until_next_session=(min(future) - at).total_seconds() / 3600 if future else None,
    )
    return history, max((s[0] for s in past), default=None)


async def _recent_checkins(
    session: AsyncSession, patient_id: int, local_day: date, exclude: int | None
) -> tuple[dict[date, int], dict[date, dict[str, int]]]:
    """Mood and side effects of each earlier day's latest revision in the window (plain columns,
    no ORM objects: this runs inside every check-in's transaction)."""
    query = select(CheckIn.id, CheckIn.local_date, CheckIn.mood).where(
        CheckIn.patient_id == patient_id,
        CheckIn.local_date >= local_day - timedelta(days=HISTORY_DAYS),
        CheckIn.local_date < local_day,
    )
    if exclude is not None:
        query = query.where(CheckIn.id != exclude)
    latest: dict[date, tuple[int, int]] = {}
    for row_id, day, mood in (await session.execute(query.order_by(CheckIn.local_date, CheckIn.revision))).all():
        latest[day] = (row_id, mood)  # ordered by revision: the last write of the day wins
    effects: dict[date, dict[str, int]] = {day: {} for day in latest}
    if latest:
        day_of = {row_id: day for day, (row_id, _mood) in latest.items()}
        found = await session.execute(
            select(CheckInSideEffect.checkin_id, CheckInSideEffect.effect, CheckInSideEffect.severity).where(
                CheckInSideEffect.checkin_id.in_(tuple(day_of))
            )
        )
        for checkin_id, effect, severity in found.all():
            effects[day_of[checkin_id]][effect] = severity
    return {day: mood for day, (_id, mood) in latest.items()}, effects


async def _session_times(session: AsyncSession, patient_id: int) -> list[tuple[datetime, str]]:
    rows = await session.execute(
        select(TreatmentSession.scheduled_at, TreatmentSession.status).where(TreatmentSession.patient_id == patient_id)
    )
    return [(at, status) for at, status in rows.all()]


async def _scores(session: AsyncSession, patient_id: int, exclude: int | None) -> list[tuple[str, datetime, int]]:
    query = select(
        QuestionnaireResponse.instrument, QuestionnaireResponse.created_at, QuestionnaireResponse.total
    ).where(
        QuestionnaireResponse.patient_id == patient_id,
        QuestionnaireResponse.instrument.in_(("phq9", "gad7")),
        QuestionnaireResponse.total.is_not(None),
    )
    if exclude is not None:
        query = query.where(QuestionnaireResponse.id != exclude)
    rows = await session.execute(query.order_by(QuestionnaireResponse.created_at, QuestionnaireResponse.id))
    return [(instrument, taken, total) for instrument, taken, total in rows.all()]


__all__ = ["EntryEvent", "RiskOutcome", "evaluate_entry", "reassess", "rule_settings_for"]
