"""The triage dashboard's data: a fixed number of queries whatever the number of patients.

Each query reads one kind of row for every patient in scope at once (``IN`` the care-team
subquery, window functions for "latest per patient"), and Python groups the rows. The query
count is tested (tests/clinic/test_dashboard.py) for 5 and 30 patients.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Integer, String, and_, cast, column, func, select, values
from sqlalchemy.ext.asyncio import AsyncSession

from companion.accounts.auth import CurrentUser
from companion.accounts.models import CareTeamMember, Clinic, Patient
from companion.alerts.models import Alert, AlertEvent
from companion.alerts.service import UNRESOLVED
from companion.checkins.models import CheckIn
from companion.clinic.charts import sparkline
from companion.clinic.fading import FadingResult, FadingSettings, assess_fading
from companion.db import utcnow
from companion.notify.delivery_models import NotificationPreference, PushSubscription
from companion.questionnaires.models import QuestionnaireResponse
from companion.questionnaires.scoring import response_status
from companion.risk.evaluation import rule_settings_for
from companion.risk.findings import Severity
from companion.treatments.models import SessionStatus, TreatmentSession

MOOD_WINDOW_DAYS = 42  # fading looks at six weeks; the sparkline at the last 14 days
SPARK_DAYS = 14
MISSED_CHECKIN_DAYS = 3
BASELINE_DAYS = 14
WORSENING_RULES = frozenset({"B1", "B2", "B6"})
SEVERITY_RANK = {str(s): s.rank for s in Severity}


@dataclass
class PatientRow:
    id: int
    code: str
    name: str
    active: bool
    user_id: int | None = None
    email: str | None = None
    moods: dict[date, int] = field(default_factory=dict)
    spark: str = ""
    spark_days: int = 0
    last_checkin: date | None = None
    phq9: int | None = None
    phq9_band: str | None = None
    phq9_baseline: int | None = None
    change_percent: float | None = None
    fading: FadingResult | None = None
    flags: list[str] = field(default_factory=list)
    last_bp: tuple[int, int, date] | None = None

    @property
    def needs_attention(self) -> bool:
        return bool(self.flags)


@dataclass
class AlertItem:
    alert: Alert
    patient: PatientRow
    overdue: bool


@dataclass
class TodaySession:
    session: SessionRow
    patient: PatientRow
    readiness: list[str]


@dataclass
class Dashboard:
    clinic: Clinic
    now: datetime
    today: date
    patients: list[PatientRow]
    alerts: list[AlertItem]
    attention: list[PatientRow]
    sessions_today: list[TodaySession]
    newest: datetime | None

    @property
    def others(self) -> list[PatientRow]:
        return [row for row in self.patients if not row.flags]


def scope_ids(staff: CurrentUser):  # type: ignore[no-untyped-def]
    """Ids of the clinician's care-team patients in their clinic, as a subquery (AC-02)."""
    return select(CareTeamMember.patient_id).where(
        CareTeamMember.clinician_id == staff.id, CareTeamMember.clinic_id == staff.clinic_id
    )


async def newest_alert_change(session: AsyncSession, staff: CurrentUser) -> datetime | None:
    """When the newest alert event of the clinician's patients happened: the poll's cheap check."""
    return (
        await session.execute(
            select(func.max(AlertEvent.created_at))
            .join(Alert, Alert.id == AlertEvent.alert_id)
            .where(Alert.clinic_id == staff.clinic_id, Alert.patient_id.in_(scope_ids(staff)))
        )
    ).scalar_one()


async def load_dashboard(session: AsyncSession, staff: CurrentUser) -> Dashboard:
    clinic = await session.get_one(Clinic, staff.clinic_id)
    now = utcnow()
    today = now.astimezone(ZoneInfo(clinic.timezone)).date()
    scope = scope_ids(staff)
    rows = {
        pid: PatientRow(pid, code, name, user_id is not None)
        for pid, code, name, user_id in (
            await session.execute(
                select(Patient.id, Patient.code, Patient.name, Patient.user_id)
                .where(Patient.clinic_id == staff.clinic_id, Patient.id.in_(scope))
                .order_by(Patient.name)
            )
        ).all()
    }
    await _moods(session, scope, rows, today)
    sessions_by_patient, first_attended = await _sessions(session, scope, today)
    zone = ZoneInfo(clinic.timezone)
    baselines = await _mood_baselines(session, first_attended, zone)
    await _phq9(session, scope, rows, first_attended)
    settings = FadingSettings.from_clinic(clinic.settings)
    zone = ZoneInfo(clinic.timezone)
    for row in rows.values():
        attended = [
            s.scheduled_at.astimezone(zone).date()
            for s in sessions_by_patient.get(row.id, [])
            if s.status == SessionStatus.ATTENDED
        ]
        if row.id in first_attended:
            attended.append(first_attended[row.id].astimezone(zone).date())
        base = _baseline(baselines.get(row.id, {}), first_attended.get(row.id), zone, settings.min_days)
        row.fading = assess_fading(row.moods, attended, today, settings, baseline=base)
        days = [today - timedelta(days=n) for n in range(SPARK_DAYS - 1, -1, -1)]
        values = [row.moods.get(d) for d in days]
        row.spark, row.spark_days = sparkline(values), sum(v is not None for v in values)
    alerts = await _alerts(session, staff, rows, now)
    reachable = await _reachable_users(session, scope)
    _flag(rows, alerts, sessions_by_patient, today, now, reachable)
    todays = _today_sessions(sessions_by_patient, rows, today, zone, rule_settings_for(clinic))
    newest = await newest_alert_change(session, staff)
    attention = [r for r in rows.values() if r.flags]
    return Dashboard(clinic, now, today, list(rows.values()), alerts, attention, todays, newest)


async def _moods(session: AsyncSession, scope: Any, rows: dict[int, PatientRow], today: date) -> None:
    """Six weeks of daily moods (and home BP) per patient, as one string per patient.

    Folding each patient's days into one string in SQL sends 300 rows instead of ~13,000 through
    the driver, which is most of this query's cost on both engines.
    """
    since = today - timedelta(days=MOOD_WINDOW_DAYS + 1)

    def text(column: Any) -> Any:
        return func.coalesce(cast(column, String), "")

    token = (
        cast(CheckIn.local_date, String)
        + "|"
        + text(CheckIn.revision)
        + "|"
        + text(CheckIn.mood)
        + "|"
        + text(CheckIn.bp_systolic)
        + "|"
        + text(CheckIn.bp_diastolic)
    )
    result = await session.execute(
        select(CheckIn.patient_id, func.aggregate_strings(token, ";"))
        .where(CheckIn.patient_id.in_(scope), CheckIn.local_date >= since)
        .group_by(CheckIn.patient_id)
    )
    for pid, packed in result.all():
        row = rows.get(pid)
        if row is None or not packed:
            continue
        days = sorted((part.split("|") for part in packed.split(";")), key=lambda d: (d[0], int(d[1])))
        for day_text, _revision, mood, systolic, diastolic in days:
            day = date.fromisoformat(day_text[:10])
            row.moods[day] = int(mood)  # later revisions overwrite earlier ones
            row.last_checkin = day
            if systolic and diastolic:
                row.last_bp = (int(systolic), int(diastolic), day)


@dataclass(frozen=True)
class SessionRow:
    patient_id: int
    code: str
    scheduled_at: datetime
    status: str


async def _sessions(
    session: AsyncSession, scope: Any, today: date
) -> tuple[dict[int, list[SessionRow]], dict[int, datetime]]:
    since = utcnow() - timedelta(days=MOOD_WINDOW_DAYS + 1)
    found = await session.execute(
        select(
            TreatmentSession.patient_id, TreatmentSession.code, TreatmentSession.scheduled_at, TreatmentSession.status
        )
        .where(
            TreatmentSession.patient_id.in_(scope),
            TreatmentSession.scheduled_at >= since,
            TreatmentSession.scheduled_at < utcnow() + timedelta(days=2),
        )
        .order_by(TreatmentSession.scheduled_at)
    )
    by_patient: dict[int, list[SessionRow]] = defaultdict(list)
    for pid, code, at, status in found.all():
        by_patient[pid].append(SessionRow(pid, code, at, status))
    first = dict(
        (
            await session.execute(
                select(TreatmentSession.patient_id, func.min(TreatmentSession.scheduled_at))
                .where(TreatmentSession.patient_id.in_(scope), TreatmentSession.status == SessionStatus.ATTENDED)
                .group_by(TreatmentSession.patient_id)
            )
        ).all()
    )
    return by_patient, first


async def _mood_baselines(
    session: AsyncSession, first: dict[int, datetime], zone: ZoneInfo
) -> dict[int, dict[date, int]]:
    """Each patient's moods in the ``BASELINE_DAYS`` before their first attended session (one query).

    The per-patient windows travel as a VALUES list the query joins on, a plan that stays good
    whatever the planner's statistics say (a freshly loaded PostgreSQL has none).
    """
    if not first:
        return {}
    windows = []
    for pid, at in first.items():
        day = at.astimezone(zone).date()
        windows.append((pid, day - timedelta(days=BASELINE_DAYS), day))
    spans = (
        values(column("pid", Integer), column("start_day", Date), column("stop_day", Date), name="baseline_window")
        .data(windows)
        .cte("baseline_window")
    )
    token = cast(CheckIn.local_date, String) + "|" + cast(CheckIn.revision, String) + "|" + cast(CheckIn.mood, String)
    found = await session.execute(
        select(CheckIn.patient_id, func.aggregate_strings(token, ";"))
        .join(
            spans,
            and_(
                CheckIn.patient_id == spans.c.pid,
                CheckIn.local_date >= spans.c.start_day,
                CheckIn.local_date < spans.c.stop_day,
            ),
        )
        .group_by(CheckIn.patient_id)
    )
    result: dict[int, dict[date, int]] = defaultdict(dict)
    for pid, packed in found.all():
        for day_text, _revision, mood in sorted(
            (t.split("|") for t in (packed or "").split(";") if t), key=lambda d: (d[0], int(d[1]))
        ):
            result[pid][date.fromisoformat(day_text[:10])] = int(mood)
    return result


def _baseline(moods: dict[date, int], first_at: datetime | None, zone: ZoneInfo, min_days: int) -> float | None:
    if first_at is None:
        return None
    first = first_at.astimezone(zone).date()
    values = [m for d, m in moods.items() if first - timedelta(days=BASELINE_DAYS) <= d < first]
    return sum(values) / len(values) if len(values) >= min_days else None


def _epoch(session: AsyncSession, column_: Any) -> Any:
    """Seconds since 1970 as text, on either engine."""
    if session.bind.dialect.name == "postgresql":
        return cast(func.extract("epoch", column_), String)
    return func.strftime("%s", column_)


async def _phq9(session: AsyncSession, scope: Any, rows: dict[int, PatientRow], first: dict[int, datetime]) -> None:
    """Latest PHQ-9 per patient, and the baseline (the last before the first attended session).

    One row per patient with every complete PHQ-9 folded into a string; Python picks the latest
    and the baseline (``questionnaires.scoring.baseline_phq9``'s rule) from it.
    """
    qr = QuestionnaireResponse
    token = _epoch(session, qr.created_at) + "|" + cast(qr.total, String) + "|" + func.coalesce(qr.band, "")
    found = await session.execute(
        select(qr.patient_id, func.aggregate_strings(token, ";"))
        .where(qr.patient_id.in_(scope), qr.instrument == "phq9", qr.total.is_not(None))
        .group_by(qr.patient_id)
    )
    for pid, packed in found.all():
        row = rows.get(pid)
        if row is None or not packed:
            continue
        answers = sorted((float(at), int(total), band) for at, total, band in (t.split("|") for t in packed.split(";")))
        _at, row.phq9, row.phq9_band = answers[-1]
        cutoff = first[pid].timestamp() if pid in first else None
        before = [a for a in answers if cutoff is None or a[0] < cutoff]
        if before:
            row.phq9_baseline = before[-1][1]
            row.change_percent = response_status(row.phq9_baseline, row.phq9).percent_change


async def _alerts(
    session: AsyncSession, staff: CurrentUser, rows: dict[int, PatientRow], now: datetime
) -> list[AlertItem]:
    found = (
        await session.execute(
            select(Alert).where(
                Alert.clinic_id == staff.clinic_id, Alert.patient_id.in_(scope_ids(staff)), Alert.status.in_(UNRESOLVED)
            )
        )
    ).scalars()
    items = [
        AlertItem(
            a, rows[a.patient_id], a.status == "open" and a.response_due_at is not None and a.response_due_at < now
        )
        for a in found
        if a.patient_id in rows
    ]
    far = now + timedelta(days=3650)
    items.sort(
        key=lambda i: (
            i.alert.status != "open",
            -SEVERITY_RANK.get(i.alert.severity, 0),
            i.alert.response_due_at or far,
            i.alert.created_at,
        )
    )
    return items


async def _reachable_users(session: AsyncSession, scope: Any) -> set[int]:
    """Patients' user ids with a working channel: a live push subscription, or e-mail switched on."""
    users = select(Patient.user_id).where(Patient.id.in_(scope), Patient.user_id.is_not(None))
    push = set(
        (
            await session.execute(
                select(PushSubscription.user_id).where(
                    PushSubscription.user_id.in_(users), PushSubscription.disabled_at.is_(None)
                )
            )
        ).scalars()
    )
    mail = set(
        (
            await session.execute(
                select(NotificationPreference.user_id).where(
                    NotificationPreference.user_id.in_(users), NotificationPreference.email_enabled.is_(True)
                )
            )
        ).scalars()
    )
    return push | mail


def _flag(
    rows: dict[int, PatientRow],
    alerts: list[AlertItem],
    sessions: dict[int, list[SessionRow]],
    today: date,
    now: datetime,
    reachable: set[int],
) -> None:
    worsening = {i.alert.patient_id: i.alert.rule_id for i in alerts if i.alert.rule_id in WORSENING_RULES}
    for row in rows.values():
        if row.id in worsening:
            row.flags.append(f"Worsening ({worsening[row.id]})")
        if row.fading is not None and row.fading.fading:
            row.flags.append(f"Fading response ({row.fading.lost_percent:g}% of gain lost)")
        if row.active and (row.last_checkin is None or (today - row.last_checkin).days >= MISSED_CHECKIN_DAYS):
            since = "no check-in in 6 weeks" if row.last_checkin is None else f"last check-in {row.last_checkin:%d %b}"
            row.flags.append(f"Missed check-ins ({since})")
        missed = [
            s
            for s in sessions.get(row.id, [])
            if s.status == SessionStatus.MISSED and now - s.scheduled_at <= timedelta(days=14)
        ]
        if missed:
            row.flags.append("Missed a session")
        if row.active and row.user_id not in reachable:
            row.flags.append("No working notification channel")


def _today_sessions(
    sessions: dict[int, list[SessionRow]],
    rows: dict[int, PatientRow],
    today: date,
    zone: ZoneInfo,
    rule_settings: Any,
) -> list[TodaySession]:
    result = []
    for pid, items in sessions.items():
        for item in items:
            if item.scheduled_at.astimezone(zone).date() != today or item.status == SessionStatus.CANCELLED:
                continue
            row = rows[pid]
            readiness = []
            if row.last_bp and (today - row.last_bp[2]).days <= 3:
                s, d, _at = row.last_bp
                high = s > rule_settings.bp_hold_systolic or d > rule_settings.bp_hold_diastolic
                readiness.append(f"Home BP {s}/{d}" + (" — above hold threshold, re-check" if high else ""))
            else:
                readiness.append("No home BP in the last 72 h")
            if row.last_checkin != today:
                readiness.append("No check-in today")
            result.append(TodaySession(item, row, readiness))
    result.sort(key=lambda t: t.session.scheduled_at)
    return result
