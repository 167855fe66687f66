"""The demo clinic: accounts, care teams, and ~90 days of history that looks like real treatment."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta
from statistics import mean
from zoneinfo import ZoneInfo

import anyio
from argon2 import PasswordHasher
from sqlalchemy import func, select

from companion.accounts.models import CareTeamMember, Clinic, Consent, Patient, Role, User
from companion.alerts.models import Alert
from companion.checkins.models import CheckIn
from companion.db import Database
from companion.demo import DemoClinic, build_demo, plan_histories
from companion.journal.models import JournalEntry
from companion.models import metadata
from companion.questionnaires.models import QuestionnaireResponse
from companion.settings import DatabaseSettings
from companion.treatments.models import Phase, Route, SessionReflection, SessionStatus, TreatmentSession

NEW_YORK = ZoneInfo("America/New_York")
# A fixed past day whose 90-day window crosses the end of daylight saving time (2 Nov 2025).
TODAY = date(2025, 11, 10)


def build(tmp_path) -> tuple[DemoClinic, dict]:
    """Build the demo into a fresh SQLite file and read back everything the checks need."""

    async def run() -> tuple[DemoClinic, dict]:
        db = Database(DatabaseSettings(url=f"sqlite:///{tmp_path}/demo.db"))
        try:
            async with db.engine.begin() as conn:
                await conn.run_sync(metadata.create_all)
            demo = await build_demo(db, today=TODAY, seed=7)
            async with db.reading() as session:
                rows = {
                    model.__name__: list(await session.scalars(select(model)))
                    for model in (
                        Clinic,
                        User,
                        Patient,
                        CareTeamMember,
                        Consent,
                        CheckIn,
                        TreatmentSession,
                        SessionReflection,
                        JournalEntry,
                        QuestionnaireResponse,
                        Alert,
                    )
                }
                rows["side_effect_count"] = await session.scalar(
                    select(func.count()).select_from(metadata.tables["checkin_side_effect"])
                )
            return demo, rows
        finally:
            await db.dispose()

    return anyio.run(run)


def test_demo_clinic(tmp_path):
    demo, rows = build(tmp_path)
    users_by_id = {u.id: u for u in rows["User"]}
    patients = rows["Patient"]

    _check_accounts(demo, rows, users_by_id)
    _check_checkins(rows, patients, users_by_id)
    _check_sessions(rows, patients)
    _check_trajectories(rows, patients, users_by_id)
    _check_journal(rows)
    _check_questionnaires_and_live_alerts(rows, patients, users_by_id)


def _check_questionnaires_and_live_alerts(rows: dict, patients: list, users_by_id: dict) -> None:
    """Weekly PHQ-9 from a baseline before the first session, fortnightly GAD-7, all scored; and
    the two entries made through the services raise open alerts from the rules themselves."""
    responses = rows["QuestionnaireResponse"]
    first_session = {}
    for s in rows["TreatmentSession"]:
        first_session[s.patient_id] = min(first_session.get(s.patient_id, s.scheduled_at), s.scheduled_at)
    for patient in patients:
        phq9 = sorted((r for r in responses if r.patient_id == patient.id and r.instrument == "phq9"),
                      key=lambda r: r.created_at)
        gad7 = [r for r in responses if r.patient_id == patient.id and r.instrument == "gad7"]
        assert len(phq9) >= 10 and len(gad7) >= 5
        assert phq9[0].created_at < first_session[patient.id]  # a baseline before the first dose
        assert all(r.complete and r.total is not None and 0 <= r.total <= 27 for r in phq9)
    by_login = {users_by_id[p.user_id].login: p.id for p in patients}
    live = {(a.patient_id, a.rule_id, a.source_kind, a.status) for a in rows["Alert"]}
    assert any(pid == by_login["grace@demo.patient"] and kind == "checkin" and status == "open"
               for pid, _rule, kind, status in live)
    assert (by_login["chloe@demo.patient"], "A3", "questionnaire", "open") in live


def _check_accounts(demo: DemoClinic, rows: dict, users_by_id: dict) -> None:
    (clinic,) = rows["Clinic"]
    assert clinic.name == "Demo Clinic" and clinic.timezone == "America/New_York" and clinic.region == "US"
    assert clinic.hours["mon"] == ["09:00", "17:00"] and "sat" not in clinic.hours

    roles = Counter(u.role for u in rows["User"])
    assert roles[Role.ADMIN] == 1 and roles[Role.CLINICIAN] == 2
    assert 10 <= roles[Role.PATIENT] <= 14
    patients = rows["Patient"]
    assert len(patients) == roles[Role.PATIENT]

    consented = {c.patient_id for c in rows["Consent"]}
    primaries = Counter(m.patient_id for m in rows["CareTeamMember"] if m.is_primary)
    team_sizes = Counter(m.patient_id for m in rows["CareTeamMember"])
    for patient in patients:
        assert users_by_id[patient.user_id].role == Role.PATIENT
        assert patient.activated_at is not None and patient.timezone == "America/New_York"
        assert patient.id in consented
        assert primaries[patient.id] == 1
    assert any(size == 2 for size in team_sizes.values())  # some have two clinicians

    # Every returned login exists; one argon2 hash (hashed once) verifies the shown password.
    by_login = {u.login: u for u in rows["User"]}
    assert {login.login for login in demo.logins} == set(by_login)
    hashes = {u.password_hash for u in rows["User"]}
    assert len(hashes) == 1
    assert PasswordHasher().verify(hashes.pop(), demo.password)
    assert {"ada@demo.clinic", "carol@demo.clinic", "dave@demo.clinic", "alice@demo.patient"} <= set(by_login)


def _check_checkins(rows: dict, patients: list, users_by_id: dict) -> None:
    checkins = rows["CheckIn"]
    window_start = TODAY - timedelta(days=89)
    per_patient = Counter(c.patient_id for c in checkins if window_start <= c.local_date <= TODAY)
    per_day = Counter((c.patient_id, c.local_date) for c in checkins)
    for patient in patients:
        assert per_patient[patient.id] >= 60
    assert max(per_day.values()) == 1
    for c in checkins:
        assert c.revision == 1
        assert c.created_at.tzinfo is not None
        assert c.created_at.astimezone(NEW_YORK).date() == c.local_date
        assert c.safety in ("none", "passive")
        assert users_by_id[c.created_by_id].id == next(p.user_id for p in patients if p.id == c.patient_id)
    assert rows["side_effect_count"] > 50
    assert any(c.bp_systolic for c in checkins) and any(c.note for c in checkins)


def _check_sessions(rows: dict, patients: list) -> None:
    sessions_by_patient = defaultdict(list)
    for s in rows["TreatmentSession"]:
        sessions_by_patient[s.patient_id].append(s)
    today_end = TODAY + timedelta(days=1)
    routes = Counter()
    for patient in patients:
        sessions = sorted(sessions_by_patient[patient.id], key=lambda s: s.scheduled_at)
        routes[sessions[0].route] += 1
        local_days = [s.scheduled_at.astimezone(NEW_YORK).date() for s in sessions]
        assert all(day.weekday() < 5 for day in local_days)
        future = [s for s in sessions if s.scheduled_at.astimezone(NEW_YORK).date() >= today_end]
        assert 1 <= len(future) <= 2 and all(s.status == SessionStatus.SCHEDULED for s in future)
        past = [s for s in sessions if s not in future]
        assert all(s.status != SessionStatus.SCHEDULED for s in past)
        if sessions[0].route != Route.ESKETAMINE_NASAL:
            continue
        # Spravato: twice weekly in weeks 1-4 (induction), weekly in 5-8, then every two weeks.
        first = local_days[0]
        week_of = Counter((day - first).days // 7 for day in local_days)
        assert [week_of[w] for w in range(4)] == [2, 2, 2, 2]
        assert [week_of[w] for w in range(4, 8)] == [1, 1, 1, 1]
        assert week_of[9] == 0 and week_of[8] == 1
        for s, day in zip(sessions, local_days, strict=True):
            week = (day - first).days // 7
            expected = Phase.INDUCTION if week < 4 else Phase.OPTIMISATION if week < 8 else Phase.MAINTENANCE
            assert s.phase == expected
    assert routes[Route.IV] == 2 and routes[Route.ESKETAMINE_NASAL] == len(patients) - 2
    statuses = Counter(s.status for s in rows["TreatmentSession"])
    assert 1 <= statuses[SessionStatus.MISSED] + statuses[SessionStatus.CANCELLED] <= 3


def _check_trajectories(rows: dict, patients: list, users_by_id: dict) -> None:
    moods = defaultdict(list)
    for c in sorted(rows["CheckIn"], key=lambda c: c.local_date):
        moods[c.patient_id].append((c.local_date, c.mood))
    by_login = {users_by_id[p.user_id].login: p.id for p in patients}

    def early_and_late(login: str) -> tuple[float, float]:
        series = moods[by_login[login]]
        start = series[0][0]
        early = [m for d, m in series if d < start + timedelta(days=14)]
        late = [m for d, m in series if d > TODAY - timedelta(days=14)]
        return mean(early), mean(late)

    worsening_early, worsening_late = early_and_late("grace@demo.patient")
    assert worsening_late < worsening_early - 1
    responder_early, responder_late = early_and_late("alice@demo.patient")
    assert responder_late > responder_early + 2
    passive = {c.patient_id for c in rows["CheckIn"] if c.safety == "passive"}
    assert passive == {by_login["grace@demo.patient"]}


def _check_journal(rows: dict) -> None:
    entries = rows["JournalEntry"]
    assert {e.shared for e in entries} == {True, False}
    assert {"stands_out", "small_step"} <= {e.prompt_key for e in entries}
    assert all(e.created_at.astimezone(NEW_YORK).date() == e.local_date <= TODAY for e in entries)
    assert rows["SessionReflection"]


def test_same_seed_same_history():
    first, again = plan_histories(TODAY, seed=7), plan_histories(TODAY, seed=7)
    assert [p.checkins for p in first] == [p.checkins for p in again]
    assert [p.sessions for p in first] == [p.sessions for p in again]
    assert [p.checkins for p in plan_histories(TODAY, seed=8)] != [p.checkins for p in first]
