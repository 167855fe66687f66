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
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, func, inspect, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from companion.accounts.models import Clinic
from companion.alerts.service import Source, raise_alerts
from companion.checkins.models import CheckIn, CheckInSideEffect
from companion.db import one_of
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
    SessionPrepFacts,
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
    "help", "prep"), patient and row."""

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
        history, last_session = await _history(session, event.patient_id, row.created_at, row.local_date)
        hours = (row.created_at - last_session).total_seconds() / 3600 if last_session else None
        if "side_effects" in inspect(row).unloaded:  # built without its collection: load it here, not lazily
            await session.refresh(row, ["side_effects"])
        return _checkin_facts(row, hours), history
    if event.kind == "questionnaire":
        history, _ = await _history(session, event.patient_id, row.created_at, row.local_date, row.id)
        return _questionnaire_facts(row), history
    if event.kind in ("journal", "reflection"):
        return FreeTextFacts(text=row.body or "", shared=bool(row.shared)), None
    if event.kind == "help":
        return HelpRequest(), None
    if event.kind == "prep":  # the pre-session checklist: its blood pressure (C2, C3)
        answered_on = row.answered_at.date()  # no rule given a checklist reads the day
        return SessionPrepFacts(answered_on, bp_systolic=row.bp_systolic, bp_diastolic=row.bp_diastolic), None
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
    response_id: int | None = None,
) -> tuple[History, datetime | None]:
    """The patient's recent history in two small queries (check-ins with their side effects; one
    row of session and score aggregates), and when their latest session before ``at`` started."""
    moods, effects = await _recent_checkins(session, patient_id, local_day)
    course = await _course(session, patient_id, at, response_id)
    previous_day = max(moods, default=None)
    driving = sum(1 for day_effects in effects.values() if day_effects.get("drove_after_session", 0) > 0)
    history = History.from_records(
        course.phq9_scores,
        course.first_session_at,
        checkins=tuple(DayMood(day, mood) for day, mood in sorted(moods.items())),
        previous_gad7=course.latest_gad7,
        sessions_attended=course.sessions_so_far,
        driving_reports_30d=driving,
        previous_side_effects=effects.get(previous_day, {}) if previous_day else None,
        hours_until_next_session=(course.next_session_at - at).total_seconds() / 3600
        if course.next_session_at
        else None,
    )
    return history, course.last_session_at


@cache
def _recent_checkins_query() -> Select[Any]:
    """Built once (statement construction costs more than running it); parameters ``patient_id``,
    ``since`` and ``before``."""
    checkins, effects = CheckIn.__table__, CheckInSideEffect.__table__  # table columns: no ORM result layer
    return (
        select(checkins.c.id, checkins.c.local_date, checkins.c.mood, effects.c.effect, effects.c.severity)
        .outerjoin(effects, effects.c.checkin_id == checkins.c.id)
        .where(
            checkins.c.patient_id == bindparam("patient_id"),
            checkins.c.local_date >= bindparam("since"),
            checkins.c.local_date < bindparam("before"),
        )
        .order_by(checkins.c.local_date, checkins.c.revision)
    )


async def _recent_checkins(
    session: AsyncSession, patient_id: int, local_day: date
) -> tuple[dict[date, int], dict[date, dict[str, int]]]:
    """Mood and side effects of each earlier day's latest revision in the window, in one query
    of plain columns (no ORM objects: this runs inside every check-in's transaction). The entry's
    own day is outside the window, so a check-in being written never counts as its own history."""
    params = {"patient_id": patient_id, "since": local_day - timedelta(days=HISTORY_DAYS), "before": local_day}
    latest: dict[date, tuple[int, int]] = {}
    effects_of: dict[int, dict[str, int]] = {}
    for row_id, day, mood, effect, severity in (await session.execute(_recent_checkins_query(), params)).all():
        latest[day] = (row_id, mood)  # ordered by revision: the last write of the day wins
        if effect is not None:
            effects_of.setdefault(row_id, {})[effect] = severity
    moods = {day: mood for day, (_id, mood) in latest.items()}
    return moods, {day: effects_of.get(row_id, {}) for day, (row_id, _mood) in latest.items()}


@dataclass(frozen=True)
class _Course:
    """The course of treatment as far as the rules need it, aggregated in SQL."""

    first_session_at: datetime | None
    last_session_at: datetime | None
    sessions_so_far: int
    next_session_at: datetime | None
    latest_gad7: int | None
    # The PHQ-9 totals that decide the baseline, the lowest since the start and the previous
    # total (``History.from_records`` derives the same values from them as from all of them).
    phq9_scores: tuple[PastScore, ...]


def _pick(query: Select[Any], *order: Any) -> tuple[Any, Any]:
    """(taken, total) of the first row of ``query`` in ``order``, as two scalar subqueries."""
    first = query.order_by(*order).limit(1).subquery()
    return select(first.c.created_at).scalar_subquery(), select(first.c.total).scalar_subquery()


@cache
def _course_query(excluding_response: bool) -> Select[Any]:
    """Built once per shape (statement construction costs more than running it); parameters
    ``patient_id``, ``at`` and, when ``excluding_response``, ``response_id``."""
    sessions, scores = TreatmentSession.__table__.c, QuestionnaireResponse.__table__.c  # no ORM result layer
    patient_id, at = bindparam("patient_id"), bindparam("at")
    started = (
        sessions.patient_id == patient_id,
        one_of(sessions.status, (SessionStatus.ATTENDED, SessionStatus.SCHEDULED)),
        sessions.scheduled_at <= at,
    )
    first_at = select(func.min(sessions.scheduled_at)).where(*started).scalar_subquery()
    upcoming = (
        sessions.patient_id == patient_id,
        sessions.status == SessionStatus.SCHEDULED,
        sessions.scheduled_at > at,
    )
    scored = select(scores.created_at, scores.total).where(scores.patient_id == patient_id, scores.total.is_not(None))
    if excluding_response:
        scored = scored.where(scores.id != bindparam("response_id"))
    phq9 = scored.where(scores.instrument == "phq9")
    newest = (scores.created_at.desc(), scores.id.desc())
    _gad7_at, gad7_total = _pick(scored.where(scores.instrument == "gad7"), *newest)
    return select(
        first_at,
        select(func.max(sessions.scheduled_at)).where(*started).scalar_subquery(),
        select(func.count()).select_from(TreatmentSession.__table__).where(*started).scalar_subquery(),
        select(func.min(sessions.scheduled_at)).where(*upcoming).scalar_subquery(),
        gad7_total,
        *_pick(phq9, *newest),  # the previous total
        *_pick(phq9.where(or_(first_at.is_(None), scores.created_at < first_at)), *newest),  # the baseline
        *_pick(phq9.where(scores.created_at >= first_at), scores.total, scores.created_at),  # the lowest since
    )


async def _course(session: AsyncSession, patient_id: int, at: datetime, exclude_response: int | None) -> _Course:
    """One round trip of scalar subqueries, each an index lookup, whatever the length of the
    patient's history: sessions up to ``at`` (attended or scheduled), the next scheduled one, the
    latest GAD-7 and three PHQ-9 picks."""
    params: dict[str, Any] = {"patient_id": patient_id, "at": at}
    if exclude_response is not None:
        params["response_id"] = exclude_response
    row = (await session.execute(_course_query(exclude_response is not None), params)).one()
    first, last, so_far, upcoming_at, gad7 = row[:5]
    picks = {PastScore(taken, total) for taken, total in (row[5:7], row[7:9], row[9:11]) if taken is not None}
    return _Course(first, last, so_far, upcoming_at, gad7, tuple(sorted(picks, key=lambda score: score.taken_at)))


__all__ = ["EntryEvent", "RiskOutcome", "evaluate_entry", "reassess", "rule_settings_for"]
