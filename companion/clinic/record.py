"""Everything the patient record page shows, read in one session, plus the measurement summary.

Only what the care team may see: shared journal entries and shared reflections (never private
ones), check-in notes, questionnaire totals, the safety plan, alerts, the plan and sessions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from companion.accounts.models import Clinic, Patient
from companion.alerts.models import Alert
from companion.checkins.models import CheckIn, CheckInSideEffect
from companion.checkins.side_effects import SIDE_EFFECTS_BY_CODE
from companion.clinic import charts, plans
from companion.clinic.charts import Band, Bar, Chart, Marker, Rule, Scale
from companion.clinic.fading import FadingResult, FadingSettings, assess_fading
from companion.db import utcnow
from companion.journal.models import JournalEntry
from companion.questionnaires.models import QuestionnaireResponse
from companion.questionnaires.scoring import PastScore, ResponseStatus, baseline_phq9, response_status
from companion.risk import safety_plan
from companion.treatments.models import SessionReflection, SessionStatus, TreatmentSession

PHQ9_BANDS = (
    (0, 5, "minimal"),
    (5, 10, "mild"),
    (10, 15, "moderate"),
    (15, 20, "moderately-severe"),
    (20, 27, "severe"),
)
GAD7_BANDS = ((0, 5, "minimal"), (5, 10, "mild"), (10, 15, "moderate"), (15, 21, "severe"))
CHART_DAYS = 365


@dataclass(frozen=True)
class Summary:
    """Measurement-based care at a glance (clinical.md section 1, "Change definitions")."""

    baseline: int | None
    current: int | None
    status: ResponseStatus | None
    sessions_attended: int
    sessions_missed: int
    sessions_due: int
    checkin_days_28: int

    @property
    def session_adherence(self) -> int | None:
        due = self.sessions_attended + self.sessions_missed
        return round(self.sessions_attended / due * 100) if due else None

    @property
    def checkin_adherence(self) -> int:
        return round(self.checkin_days_28 / 28 * 100)


@dataclass(frozen=True, slots=True)
class DayCheckIn:
    """The columns of a check-in the record draws (a year of full rows cost more than the page)."""

    local_date: date
    revision: int
    mood: int
    bp_systolic: int | None
    bp_diastolic: int | None


@dataclass(frozen=True, slots=True)
class Score:
    """A questionnaire total as the charts, summary and timeline read it."""

    instrument: str
    created_at: datetime
    local_date: date
    total: int | None
    band: str | None


@dataclass
class Record:
    patient: Patient
    clinic: Clinic
    today: date
    checkins: list[DayCheckIn]
    phq9: list[Score]
    gad7: list[Score]
    sessions: list[TreatmentSession]
    plan: Any
    journal: list[JournalEntry]
    reflections: list[SessionReflection]
    alerts: list[Alert]
    safety_plan: Any
    side_effects: list[tuple[str, int]]
    summary: Summary
    fading: FadingResult
    charts: dict[str, Chart] = field(default_factory=dict)
    timeline: list[tuple[datetime, str, str]] = field(default_factory=list)


def latest_per_day(rows: list[DayCheckIn]) -> list[DayCheckIn]:
    latest: dict[date, DayCheckIn] = {}
    for row in sorted(rows, key=lambda r: (r.local_date, r.revision)):
        latest[row.local_date] = row
    return [latest[d] for d in sorted(latest)]


async def load_record(session: AsyncSession, patient: Patient) -> Record:
    clinic = await session.get_one(Clinic, patient.clinic_id)
    today = utcnow().astimezone(ZoneInfo(patient.timezone)).date()
    since = today - timedelta(days=CHART_DAYS)
    pid = patient.id
    checkins = latest_per_day(
        [
            DayCheckIn(*row)
            for row in await session.execute(
                select(
                    CheckIn.local_date, CheckIn.revision, CheckIn.mood, CheckIn.bp_systolic, CheckIn.bp_diastolic
                ).where(CheckIn.patient_id == pid, CheckIn.local_date >= since)
            )
        ]
    )
    qr = QuestionnaireResponse
    answers = [
        Score(*row)
        for row in await session.execute(
            select(qr.instrument, qr.created_at, qr.local_date, qr.total, qr.band)
            .where(qr.patient_id == pid, qr.instrument.in_(("phq9", "gad7")), qr.total.is_not(None))
            .order_by(qr.created_at)
        )
    ]
    sessions = list(
        (
            await session.execute(
                select(TreatmentSession)
                .where(TreatmentSession.patient_id == pid)
                .order_by(TreatmentSession.scheduled_at)
            )
        ).scalars()
    )
    journal = list(
        (
            await session.execute(
                select(JournalEntry)
                .where(JournalEntry.patient_id == pid, JournalEntry.shared.is_(True))
                .order_by(JournalEntry.created_at.desc())
                .limit(50)
            )
        ).scalars()
    )
    reflections = list(
        (
            await session.execute(
                select(SessionReflection)
                .where(SessionReflection.patient_id == pid, SessionReflection.shared.is_(True))
                .order_by(SessionReflection.created_at.desc())
                .limit(50)
            )
        ).scalars()
    )
    alerts = list(
        (
            await session.execute(
                select(Alert)
                .where(Alert.patient_id == pid, Alert.clinic_id == patient.clinic_id)
                .order_by(Alert.created_at.desc())
                .limit(100)
            )
        ).scalars()
    )
    effects = (
        await session.execute(
            select(CheckInSideEffect.effect, func.count())
            .join(CheckIn, CheckIn.id == CheckInSideEffect.checkin_id)
            .where(
                CheckIn.patient_id == pid,
                CheckIn.local_date >= today - timedelta(days=90),
                CheckInSideEffect.severity > 0,
            )
            .group_by(CheckInSideEffect.effect)
        )
    ).all()
    record = Record(
        patient=patient,
        clinic=clinic,
        today=today,
        checkins=checkins,
        phq9=[a for a in answers if a.instrument == "phq9"],
        gad7=[a for a in answers if a.instrument == "gad7"],
        sessions=sessions,
        plan=await plans.current_plan(session, pid),
        journal=journal,
        reflections=reflections,
        alerts=alerts,
        safety_plan=await safety_plan.current_plan(session, pid),
        side_effects=sorted(((e, n) for e, n in effects), key=lambda item: -item[1]),
        summary=_summary([a for a in answers if a.instrument == "phq9"], sessions, checkins, today),
        fading=_fading(checkins, sessions, patient, today, clinic),
    )
    record.charts = build_charts(record)
    record.timeline = _timeline(record)
    return record


def first_attended(sessions: list[TreatmentSession]) -> TreatmentSession | None:
    return next((s for s in sessions if s.status == SessionStatus.ATTENDED), None)


def _summary(phq9: list[Score], sessions: list[TreatmentSession], checkins: list[DayCheckIn], today: date) -> Summary:
    first = first_attended(sessions)
    history = [PastScore(r.created_at, r.total) for r in phq9 if r.total is not None]
    baseline = baseline_phq9(history, first.scheduled_at if first else None)
    current = history[-1].total if history else None
    status = response_status(baseline, current) if baseline is not None and current is not None else None
    now = utcnow()
    return Summary(
        baseline=baseline,
        current=current,
        status=status,
        sessions_attended=sum(s.status == SessionStatus.ATTENDED for s in sessions),
        sessions_missed=sum(s.status == SessionStatus.MISSED for s in sessions),
        sessions_due=sum(s.status == SessionStatus.SCHEDULED and s.scheduled_at < now for s in sessions),
        checkin_days_28=sum(c.local_date > today - timedelta(days=28) for c in checkins),
    )


def _fading(
    checkins: list[DayCheckIn], sessions: list[TreatmentSession], patient: Patient, today: date, clinic: Clinic
) -> FadingResult:
    zone = ZoneInfo(patient.timezone)
    days = [s.scheduled_at.astimezone(zone).date() for s in sessions if s.status == SessionStatus.ATTENDED]
    moods = {
        c.local_date: c.mood
        for c in checkins
        if c.local_date >= today - timedelta(days=42) or (days and c.local_date < min(days))
    }
    return assess_fading(moods, days, today, FadingSettings.from_clinic(clinic.settings))


def _band_rects(scale: Scale, bands: tuple[tuple[int, int, str], ...]) -> list[Band]:
    return [
        Band(scale.y(hi), round(scale.y(lo) - scale.y(hi), 1), f"band-{css}", f"{css.replace('-', ' ')} {lo}–{hi}")
        for lo, hi, css in bands
    ]


def build_charts(record: Record) -> dict[str, Chart]:
    start, end = record.today - timedelta(days=CHART_DAYS - 1), record.today
    zone = ZoneInfo(record.patient.timezone)
    if record.checkins:
        start = max(start, record.checkins[0].local_date)
    for rows in (record.phq9, record.gad7):
        if rows:
            start = min(start, rows[0].local_date)
    result = {"mood": _mood_chart(record, start, end, zone)}
    result["phq9"] = _score_chart(record, "phq9", "PHQ-9", 27, PHQ9_BANDS, start, end)
    result["gad7"] = _score_chart(record, "gad7", "GAD-7", 21, GAD7_BANDS, start, end)
    result["side_effects"] = _side_effect_chart(record)
    result["bp"] = _bp_chart(record, start, end)
    return result


def _mood_chart(record: Record, start: date, end: date, zone: ZoneInfo) -> Chart:
    scale = Scale(start, end, 0, 10)
    values = [(c.local_date, c.mood) for c in record.checkins]
    chart = Chart(
        "mood",
        "Daily mood",
        f"Daily mood 0 to 10 from {start:%d %b %Y} to {end:%d %b %Y}, "
        f"{len(values)} check-ins; vertical lines mark attended sessions.",
    )
    chart.series.append(charts.series(scale, "Mood", "line-mood", values))
    chart.markers = [
        Marker(scale.x(d), f"Session {d:%d %b}")
        for s in record.sessions
        if s.status == SessionStatus.ATTENDED and start <= (d := s.scheduled_at.astimezone(zone).date()) <= end
    ]
    chart.x_ticks, chart.y_ticks = charts.x_ticks(scale), charts.y_ticks(scale, (0, 5, 10))
    chart.columns, chart.rows = ("Day", "Mood"), [(f"{d:%d %b %Y}", str(v)) for d, v in values[-30:]]
    return chart


def _score_chart(record: Record, key: str, label: str, top: int, bands: Any, start: date, end: date) -> Chart:
    rows = record.phq9 if key == "phq9" else record.gad7
    scale = Scale(start, end, 0, top)
    values = [(r.local_date, r.total) for r in rows if r.total is not None]
    chart = Chart(key, label, f"{label} totals (0 to {top}) with severity bands, {len(values)} answers.")
    chart.bands = _band_rects(scale, bands)
    if key == "phq9" and record.summary.baseline is not None:
        base = record.summary.baseline
        chart.desc += f" Baseline {base}; response line at {base / 2:g} (50% fall), remission line below 5."
        chart.rules = [
            Rule(scale.y(base / 2), "rule-response", f"Response ≤ {base / 2:g}"),
            Rule(scale.y(5), "rule-remission", "Remission < 5"),
        ]
    chart.series.append(charts.series(scale, label, "line-score", values))
    chart.x_ticks, chart.y_ticks = charts.x_ticks(scale), charts.y_ticks(scale, [b[0] for b in bands] + [top])
    chart.columns = ("Day", "Total", "Band")
    chart.rows = [(f"{r.local_date:%d %b %Y}", str(r.total), (r.band or "").replace("_", " ")) for r in rows][-20:]
    return chart


def _side_effect_chart(record: Record) -> Chart:
    chart = Chart(
        "side_effects",
        "Side effects, last 90 days",
        "Number of check-ins reporting each side effect in the last 90 days.",
        height=40 + 22 * max(len(record.side_effects), 1),
    )
    top = max((n for _e, n in record.side_effects), default=1)
    inner = chart.width - 230
    for index, (effect, count) in enumerate(record.side_effects):
        label = SIDE_EFFECTS_BY_CODE[effect].label if effect in SIDE_EFFECTS_BY_CODE else effect
        chart.bars.append(Bar(220, 10 + index * 22, round(count / top * inner, 1), 16, label[:34], count))
    chart.columns, chart.rows = ("Side effect", "Check-ins"), [(b.label, str(b.value)) for b in chart.bars]
    return chart


def _bp_chart(record: Record, start: date, end: date) -> Chart:
    readings = [
        (c.local_date, c.bp_systolic, c.bp_diastolic) for c in record.checkins if c.bp_systolic and c.bp_diastolic
    ]
    scale = Scale(start, end, 50, 200)
    chart = Chart(
        "bp",
        "Home blood pressure",
        f"Home blood pressure readings (mmHg), {len(readings)} readings; "
        "lines at 140/90 (pre-session hold) and 180/120 (crisis).",
    )
    chart.series = [
        charts.series(scale, "Systolic", "line-systolic", [(d, s) for d, s, _ in readings]),
        charts.series(scale, "Diastolic", "line-diastolic", [(d, di) for d, _, di in readings]),
    ]
    chart.rules = [
        Rule(scale.y(140), "rule-hold", "140"),
        Rule(scale.y(180), "rule-crisis", "180"),
        Rule(scale.y(90), "rule-hold", "90"),
        Rule(scale.y(120), "rule-crisis", "120"),
    ]
    chart.x_ticks, chart.y_ticks = charts.x_ticks(scale), charts.y_ticks(scale, (60, 90, 120, 150, 180))
    chart.columns, chart.rows = (
        ("Day", "Systolic", "Diastolic"),
        [(f"{d:%d %b %Y}", str(s), str(di)) for d, s, di in readings][-20:],
    )
    return chart


def _timeline(record: Record) -> list[tuple[datetime, str, str]]:
    items: list[tuple[datetime, str, str]] = []
    items += [
        (s.scheduled_at, "session", f"Session ({s.phase}, {s.route.replace('_', ' ')}): {s.status}")
        for s in record.sessions
    ]
    items += [
        (r.created_at, "questionnaire", f"{r.instrument.upper()} {r.total} ({(r.band or '').replace('_', ' ')})")
        for r in record.phq9 + record.gad7
    ]
    items += [(a.created_at, "alert", f"Alert {a.rule_id} ({a.severity}): {a.status}") for a in record.alerts]
    items += [(j.created_at, "journal", "Shared journal entry") for j in record.journal]
    items += [(r.created_at, "reflection", f"Shared reflection (felt {r.feeling}/10)") for r in record.reflections]
    items.sort(key=lambda item: item[0], reverse=True)
    return items[:40]
