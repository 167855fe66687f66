"""The triage dashboard's data: a fixed number of queries whatever the number of patients.

One query gives a row per care-team patient with everything the tables show (``_patient_rows``:
subqueries correlated on the patient, each a short range scan of a per-patient index on SQLite and
PostgreSQL alike, with moods folded into one string per patient); then the sessions around today,
the open alerts and the poll's newest change, each for every patient in scope at once. Python
computes sparklines, fading and flags. The query count is tested (tests/clinic/test_dashboard.py)
for 5 and 30 patients. ``_moods``, ``_sessions`` and ``_mood_baselines`` serve the fading job
(``companion.clinic.fading_job``), which reads a whole clinic.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Integer, String, and_, cast, column, exists, func, literal, or_, select, values
from sqlalchemy.ext.asyncio import AsyncSession

from companion.accounts.auth import CurrentUser
from companion.accounts.models import CareTeamMember, Clinic, Patient
from companion.alerts.models import Alert, AlertEvent
from companion.alerts.service import UNRESOLVED
from companion.checkins.models import CheckIn
from companion.clinic.charts import sparkline
from companion.clinic.fading import FadingResult, FadingSettings, assess_fading
from companion.db import UTCDateTime, utcnow
from companion.notify.delivery_models import NotificationPreference, PushSubscription
from companion.questionnaires.models import QuestionnaireResponse
from companion.questionnaires.scoring import response_status
from companion.risk.evaluation import rule_settings_for
from companion.risk.findings import Severity
from companion.treatments.models import SessionStatus, TreatmentSession
from companion.treatments.prep import Readiness, readiness_for_sessions

MOOD_WINDOW_DAYS = 42  # fading looks at six weeks; the sparkline at the last 14 days
SPARK_DAYS = 14
MISSED_CHECKIN_DAYS = 3
MISSED_SESSION_DAYS = 14
BASELINE_DAYS = 14
WORSENING_RULES = frozenset({"B1", "B2", "B6"})
SEVERITY_RANK = {str(s): s.rank for s in Severity}
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
REVISION_OFFSET = 1000


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
    reachable: bool = True  # a live push subscription, or e-mail switched on

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
    prep: Readiness | None = None  # the pre-session checklist (companion.treatments.prep)


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
    zone = ZoneInfo(clinic.timezone)
    rows, first_attended, baselines = await _patient_rows(session, staff, today)
    sessions_by_patient = await _recent_sessions(session, scope, now)
    settings = FadingSettings.from_clinic(clinic.settings)
    days = [today - timedelta(days=n) for n in range(SPARK_DAYS - 1, -1, -1)]
    for row in rows.values():
        # assess_fading reads only the earliest attended session day, and the first attended
        # session is the earliest of all: later ones would change nothing.
        attended = [first_attended[row.id].astimezone(zone).date()] if row.id in first_attended else []
        base = _baseline(baselines.get(row.id, {}), first_attended.get(row.id), zone, settings.min_days)
        row.fading = assess_fading(row.moods, attended, today, settings, baseline=base)
        values = [row.moods.get(d) for d in days]
        row.spark, row.spark_days = sparkline(values), sum(v is not None for v in values)
    alerts = await _alerts(session, staff, rows, now)
    _flag(rows, alerts, sessions_by_patient, today, now)
    todays = await _today_sessions(session, sessions_by_patient, rows, today, zone, rule_settings_for(clinic))
    newest = await newest_alert_change(session, staff)
    attention = [r for r in rows.values() if r.flags]
    return Dashboard(clinic, now, today, list(rows.values()), alerts, attention, todays, newest)


def _mood_token() -> Any:
    """``day|revision|mood|systolic|diastolic`` for one check-in row, as text on either engine.

    The revision travels as 1000 + n so that plain text order is (day, revision) order.
    """

    def text(column_: Any) -> Any:
        return func.coalesce(cast(column_, String), "")

    return (
        cast(CheckIn.local_date, String)
        + "|"
        + text(CheckIn.revision + REVISION_OFFSET)
        + "|"
        + text(CheckIn.mood)
        + "|"
        + text(CheckIn.bp_systolic)
        + "|"
        + text(CheckIn.bp_diastolic)
    )


def _unpack_days(packed: str | None) -> list[list[str]]:
    """Folded ``_mood_token`` tokens, in (day, revision) order: a later revision comes later."""
    if not packed:
        return []
    return [part.split("|") for part in sorted(packed.split(";")) if part]


@lru_cache(maxsize=4096)
def _day(text: str) -> date:
    return date.fromisoformat(text[:10])


def _fill_moods(row: PatientRow, packed: str | None) -> None:
    for day_text, _revision, mood, systolic, diastolic in _unpack_days(packed):
        day = _day(day_text)
        row.moods[day] = int(mood)  # later revisions overwrite earlier ones
        row.last_checkin = day
        if systolic and diastolic:
            row.last_bp = (int(systolic), int(diastolic), day)


def _day_token() -> Any:
    """``day|revision|mood``: the dashboard's moods (home BP is read apart, one row per patient)."""
    return (
        cast(CheckIn.local_date, String)
        + "|"
        + cast(CheckIn.revision + REVISION_OFFSET, String)
        + "|"
        + cast(CheckIn.mood, String)
    )


def _day_moods(packed: str | None) -> dict[date, int]:
    """``_day_token`` tokens as {day: mood}, the day's latest revision winning, in day order.

    A token is ``YYYY-MM-DD|1nnn|mood``: fixed widths up to the mood, so slices do (the dashboard
    reads some 13,000 of them).
    """
    if not packed:
        return {}
    return {_day(token[:10]): int(token[16:]) for token in sorted(packed.split(";"))}


def _utc_day(session: AsyncSession, instant: Any, shift: int) -> Any:
    """The calendar day of ``instant`` (in the database's zone) plus ``shift`` days, on either engine."""
    if session.bind.dialect.name == "postgresql":
        return cast(instant, Date) + shift
    return func.date(instant, f"{shift:+d} days")


async def _patient_rows(
    session: AsyncSession, staff: CurrentUser, today: date
) -> tuple[dict[int, PatientRow], dict[int, datetime], dict[int, dict[date, int]]]:
    """One row per care-team patient with all the table needs, from one query.

    Each part is a subquery correlated on the patient: every engine runs it as a short range scan of
    a (patient_id, ...) index per patient, so the cost follows the size of the care team, never the
    clinic's history, and no plan hangs on the planner's statistics. Returns the rows (moods,
    last check-in and BP, PHQ-9, reachability filled in), each patient's first attended session,
    and the moods around it (a day or two wider than the baseline window: ``_baseline`` trims).
    """
    ts, qr = TreatmentSession, QuestionnaireResponse
    first_at = (
        select(ts.scheduled_at)
        .where(ts.patient_id == Patient.id, ts.status == SessionStatus.ATTENDED)
        .order_by(ts.scheduled_at)
        .limit(1)
        .scalar_subquery()
    )
    # MATERIALIZED: the first session is looked up once per patient, not once per use below.
    people = (
        select(Patient.id, Patient.code, Patient.name, Patient.user_id, first_at.label("first_at"))
        .where(Patient.clinic_id == staff.clinic_id, Patient.id.in_(scope_ids(staff)))
        .cte("people")
        .prefix_with("MATERIALIZED")
    )
    pid, first, user_id = people.c.id, people.c.first_at, people.c.user_id
    since = today - timedelta(days=MOOD_WINDOW_DAYS + 1)
    moods = (
        select(func.aggregate_strings(_day_token(), ";"))
        .where(CheckIn.patient_id == pid, CheckIn.local_date >= since)
        .scalar_subquery()
    )
    # The latest check-in (by day, then revision) of the window with both BP figures.
    last_bp = (
        select(
            cast(CheckIn.local_date, String)
            + "|"
            + cast(CheckIn.bp_systolic, String)
            + "|"
            + cast(CheckIn.bp_diastolic, String)
        )
        .where(
            CheckIn.patient_id == pid,
            CheckIn.local_date >= since,
            CheckIn.bp_systolic.is_not(None),
            CheckIn.bp_diastolic.is_not(None),
        )
        .order_by(CheckIn.local_date.desc(), CheckIn.revision.desc())
        .limit(1)
        .scalar_subquery()
    )
    around_first = (
        select(func.aggregate_strings(_day_token(), ";"))
        .where(
            CheckIn.patient_id == pid,
            CheckIn.local_date >= _utc_day(session, first, -(BASELINE_DAYS + 2)),
            CheckIn.local_date < _utc_day(session, first, 2),
        )
        .scalar_subquery()
    )
    # PHQ-9: the latest, and the baseline (the last before the first attended session, or the
    # latest when none is attended yet); ties broken as a sort on (time, total, band) would.
    phq9 = (qr.patient_id == pid, qr.instrument == "phq9", qr.total.is_not(None))
    newest = (qr.created_at.desc(), qr.total.desc(), func.coalesce(qr.band, "").desc())
    latest = (
        select(cast(qr.total, String) + "|" + func.coalesce(qr.band, ""))
        .where(*phq9)
        .order_by(*newest)
        .limit(1)
        .scalar_subquery()
    )
    phq9_baseline = (
        select(qr.total)
        .where(*phq9, qr.created_at < func.coalesce(first, literal(FAR_FUTURE, UTCDateTime)))
        .order_by(*newest)
        .limit(1)
    ).scalar_subquery()
    push = exists().where(PushSubscription.user_id == user_id, PushSubscription.disabled_at.is_(None))
    mail = exists().where(NotificationPreference.user_id == user_id, NotificationPreference.email_enabled.is_(True))
    found = await session.execute(
        select(
            pid,
            people.c.code,
            people.c.name,
            user_id,
            first,
            moods,
            last_bp,
            around_first,
            latest,
            phq9_baseline,
            or_(push, mail),
        ).order_by(people.c.name)
    )
    rows: dict[int, PatientRow] = {}
    firsts: dict[int, datetime] = {}
    baselines: dict[int, dict[date, int]] = {}
    for patient_id, code, name, user, first_at_, packed, bp, packed_first, last_phq9, base_phq9, reachable in found:
        row = rows[patient_id] = PatientRow(patient_id, code, name, user is not None, user_id=user)
        row.reachable = bool(reachable)
        row.moods = _day_moods(packed)
        row.last_checkin = max(row.moods, default=None)
        if bp:
            day_text, systolic, diastolic = bp.split("|")
            row.last_bp = (int(systolic), int(diastolic), _day(day_text))
        if first_at_ is not None:
            firsts[patient_id] = first_at_
            baselines[patient_id] = _day_moods(packed_first)
        if last_phq9:
            total, band = last_phq9.split("|", 1)
            row.phq9, row.phq9_band = int(total), band
            if base_phq9 is not None:
                row.phq9_baseline = base_phq9
                row.change_percent = response_status(base_phq9, row.phq9).percent_change
    return rows, firsts, baselines


async def _recent_sessions(session: AsyncSession, scope: Any, now: datetime) -> dict[int, list[SessionRow]]:
    """The sessions the dashboard shows or flags: missed ones of the last 14 days, and every one from
    two days back to two days ahead (which holds the clinic's today in any zone)."""
    ts = TreatmentSession
    found = await session.execute(
        select(ts.patient_id, ts.code, ts.scheduled_at, ts.status)
        .where(
            ts.patient_id.in_(scope),
            ts.scheduled_at >= now - timedelta(days=MISSED_SESSION_DAYS + 1),
            ts.scheduled_at < now + timedelta(days=2),
            or_(ts.status == SessionStatus.MISSED, ts.scheduled_at >= now - timedelta(days=2)),
        )
        .order_by(ts.scheduled_at)
    )
    by_patient: dict[int, list[SessionRow]] = defaultdict(list)
    for pid, code, at, status in found.all():
        by_patient[pid].append(SessionRow(pid, code, at, status))
    return by_patient


async def _moods(session: AsyncSession, scope: Any, rows: dict[int, PatientRow], today: date) -> None:
    """Six weeks of daily moods (and home BP) per patient, as one string per patient.

    Folding each patient's days into one string in SQL sends 300 rows instead of ~13,000 through
    the driver, which is most of this query's cost on both engines.
    """
    since = today - timedelta(days=MOOD_WINDOW_DAYS + 1)
    result = await session.execute(
        select(CheckIn.patient_id, func.aggregate_strings(_mood_token(), ";"))
        .where(CheckIn.patient_id.in_(scope), CheckIn.local_date >= since)
        .group_by(CheckIn.patient_id)
    )
    for pid, packed in result.all():
        row = rows.get(pid)
        if row is not None:
            _fill_moods(row, packed)


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


def _flag(
    rows: dict[int, PatientRow],
    alerts: list[AlertItem],
    sessions: dict[int, list[SessionRow]],
    today: date,
    now: datetime,
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
            if s.status == SessionStatus.MISSED and now - s.scheduled_at <= timedelta(days=MISSED_SESSION_DAYS)
        ]
        if missed:
            row.flags.append("Missed a session")
        if row.active and not row.reachable:
            row.flags.append("No working notification channel")


async def _today_sessions(
    session: AsyncSession,
    sessions: dict[int, list[SessionRow]],
    rows: dict[int, PatientRow],
    today: date,
    zone: ZoneInfo,
    rule_settings: Any,
) -> list[TodaySession]:
    """Today's sessions with readiness: the checklist answers (two queries for all), home BP, check-in."""
    todays = [
        item
        for items in sessions.values()
        for item in items
        if item.scheduled_at.astimezone(zone).date() == today and item.status != SessionStatus.CANCELLED
    ]
    ids: dict[str, int] = {}
    if todays:
        ids = dict(
            (
                await session.execute(
                    select(TreatmentSession.code, TreatmentSession.id).where(
                        TreatmentSession.code.in_([item.code for item in todays])
                    )
                )
            ).all()
        )
    preps = await readiness_for_sessions(session, list(ids.values()))
    result = []
    for item in todays:
        row = rows[item.patient_id]
        prep = preps.get(ids.get(item.code, 0))
        readiness = prep.lines() if prep else []
        if row.last_bp and (today - row.last_bp[2]).days <= 3:
            s, d, _at = row.last_bp
            high = s > rule_settings.bp_hold_systolic or d > rule_settings.bp_hold_diastolic
            readiness.append(f"Home BP {s}/{d}" + (" — above hold threshold, re-check" if high else ""))
        else:
            readiness.append("No home BP in the last 72 h")
        if row.last_checkin != today:
            readiness.append("No check-in today")
        result.append(TodaySession(item, row, readiness, prep))
    result.sort(key=lambda t: t.session.scheduled_at)
    return result
