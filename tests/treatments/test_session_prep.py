"""The pre-session checklist: the patient's form, Today, readiness and the clinic's fasting window."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event, func, select

from companion.accounts.models import Clinic
from companion.db import utcnow
from companion.treatments.models import SessionPrep
from companion.treatments.prep import (
    FastingWindow,
    Readiness,
    fasting_window,
    readiness_for_sessions,
)
from tests.factories import make_session

GOOD = {
    "fasting": "yes",
    "ride_home": "yes",
    "medication_changes": "yes",
    "medication_note": "Started sertraline 50 mg",
    "bp_systolic": "128",
    "bp_diastolic": "82",
    "nasal_spray": "not_used",
}


async def _preps(db) -> list[SessionPrep]:
    async with db.reading() as session:
        return list((await session.execute(select(SessionPrep).order_by(SessionPrep.id))).scalars())


async def test_checklist_over_http(client, personas, db):
    treatment = await make_session(db, personas.alice, at=utcnow() + timedelta(hours=20))
    await client.login(personas.alice)
    url = f"/sessions/{treatment.code}/prep"
    page = await client.get(url)
    assert page.status_code == 200
    assert "No food for 2 hours before, and no drinks for 30 minutes before" in page.text
    assert "nasal steroid or decongestant" in page.text
    key = await client.form_key(url)
    response = await client.post_form(url, GOOD | {"idempotency_key": key})
    assert response.status_code == 303 and response.headers["location"] == "/sessions?saved=prep"
    [row] = await _preps(db)
    assert (row.fasting_ok, row.ride_home, row.medication_changes, row.medication_note) == (
        True,
        True,
        True,
        "Started sertraline 50 mg",
    )
    assert (row.bp_systolic, row.bp_diastolic, row.nasal_spray, row.treatment_session_id) == (
        128,
        82,
        "not_used",
        treatment.id,
    )
    first_answer = row.answered_at
    # Replaying the same submission changes nothing.
    again = await client.post_form(url, GOOD | {"idempotency_key": key})
    assert again.status_code == 303
    [same] = await _preps(db)
    assert same.answered_at == first_answer
    # A new submission replaces the answers in place: the latest answers win.
    key = await client.form_key(url)
    changed = GOOD | {"ride_home": "no", "medication_changes": "no", "bp_systolic": "", "bp_diastolic": ""}
    assert (await client.post_form(url, changed | {"idempotency_key": key})).status_code == 303
    [latest] = await _preps(db)
    assert latest.id == row.id and latest.ride_home is False and latest.medication_note == ""
    assert latest.bp_systolic is None and latest.answered_at >= first_answer
    page = await client.get(url)
    assert "You answered on" in page.text and 'value="no" checked' in page.text
    sessions = await client.get("/sessions?saved=prep")
    assert "Session prep saved" in sessions.text and "Session prep done" in sessions.text


async def test_bad_input_shows_the_form_and_saves_nothing(client, personas, db):
    treatment = await make_session(db, personas.alice, at=utcnow() + timedelta(hours=20))
    await client.login(personas.alice)
    url = f"/sessions/{treatment.code}/prep"
    cases = [
        ({}, "Please choose an answer about fasting"),
        (GOOD | {"bp_systolic": "400"}, "Enter a number from 60 to 260"),
        (GOOD | {"bp_diastolic": ""}, "Enter both numbers of your blood pressure, or neither"),
        (GOOD | {"bp_systolic": "80", "bp_diastolic": "90"}, "top number (systolic) should be higher"),
        (GOOD | {"medication_note": "x" * 201}, "Keep this under 200 characters"),
        (GOOD | {"fasting": "maybe"}, "Choose one of the options shown"),
        (GOOD | {"nasal_spray": ""}, "an answer about nasal sprays"),
        (GOOD | {"admin": "1"}, "not part of the form"),
        (GOOD | {"bp_systolic": "12\x00"}, "whole number"),
        (GOOD | {"idempotency_key": "!"}, "out of date"),
    ]
    for body, message in cases:
        response = await client.post_form(url, body)
        assert response.status_code == 422, body
        assert message in response.text, (body, message)
    assert await _preps(db) == []


async def test_nasal_question_only_for_the_nasal_route(client, personas, db):
    treatment = await make_session(db, personas.alice, at=utcnow() + timedelta(hours=20), route="iv")
    await client.login(personas.alice)
    url = f"/sessions/{treatment.code}/prep"
    page = await client.get(url)
    assert "nasal steroid" not in page.text and "No food for 4 hours before" in page.text
    assert "no drinks for 2 hours before" in page.text
    body = {k: v for k, v in GOOD.items() if k != "nasal_spray"}
    assert (await client.post_form(url, GOOD)).status_code == 422
    assert (await client.post_form(url, body)).status_code == 303
    [row] = await _preps(db)
    assert row.nasal_spray is None


async def test_clinic_sets_the_fasting_window(client, personas, db):
    async with db.writing() as session:
        clinic = await session.get_one(Clinic, personas.north_id)
        clinic.settings = {"session_prep": {"fasting": {"iv": {"food_hours": 6, "liquids_minutes": 60}}}}
    treatment = await make_session(db, personas.alice, at=utcnow() + timedelta(hours=20), route="iv")
    await client.login(personas.alice)
    page = await client.get(f"/sessions/{treatment.code}/prep")
    assert "No food for 6 hours before, and no drinks for 1 hour before" in page.text
    today = await client.get("/today")
    assert "no food for 6 hours and no drinks for 1 hour before" in today.text


def test_fasting_window_defaults_and_bad_settings():
    assert fasting_window({}, "esketamine_nasal") == FastingWindow(2, 30)
    assert fasting_window(None, "iv") == FastingWindow(4, 120)
    bad = {"session_prep": {"fasting": {"iv": {"food_hours": "lots", "liquids_minutes": 30}}}}
    assert fasting_window(bad, "iv") == FastingWindow(4, 120)
    assert fasting_window({"session_prep": {"fasting": {"iv": [1]}}}, "iv") == FastingWindow(4, 120)


async def test_checklist_is_open_only_from_the_day_before_until_the_start(client, personas, db):
    later = await make_session(db, personas.alice, at=utcnow() + timedelta(days=3))
    started = await make_session(db, personas.alice, at=utcnow() - timedelta(minutes=5))
    cancelled = await make_session(db, personas.alice, at=utcnow() + timedelta(hours=20), status="cancelled")
    await client.login(personas.alice)
    for treatment in (later, started, cancelled):
        url = f"/sessions/{treatment.code}/prep"
        assert (await client.get(url)).status_code == 404
        assert (await client.post_form(url, GOOD)).status_code == 404
    assert (await client.get("/sessions/no-such-session/prep")).status_code == 404
    assert await _preps(db) == []


async def test_only_the_patient_can_answer_their_checklist(client_factory, personas, db):
    treatment = await make_session(db, personas.alice, at=utcnow() + timedelta(hours=20))
    url = f"/sessions/{treatment.code}/prep"
    for who in (personas.bob, personas.carol, personas.erin, personas.ada):
        async with client_factory() as c:
            await c.login(who)
            assert (await c.get(url)).status_code == 404, who.login
            assert (await c.post_form(url, GOOD)).status_code == 404, who.login
    async with client_factory() as c:
        assert (await c.get(url)).status_code == 303  # anonymous: to the login page
        assert (await c.post_form(url, GOOD)).status_code in (303, 403)
    async with client_factory() as c:
        await c.login(personas.alice)
        assert (await c.post_form(url, GOOD, csrf=False)).status_code == 403
    assert await _preps(db) == []


async def test_today_shows_prep_due_until_done(client, personas, db):
    treatment = await make_session(db, personas.alice, at=utcnow() + timedelta(hours=20))
    await client.login(personas.alice)
    today = await client.get("/today")
    assert f'href="/sessions/{treatment.code}/prep">Session prep</a> is due' in today.text
    sessions = await client.get("/sessions")
    assert f'href="/sessions/{treatment.code}/prep">Do your session prep' in sessions.text
    key = await client.form_key(f"/sessions/{treatment.code}/prep")
    await client.post_form(f"/sessions/{treatment.code}/prep", GOOD | {"idempotency_key": key})
    today = await client.get("/today")
    assert "Session prep</a> is due" not in today.text and "Session prep done" in today.text


async def test_today_does_not_show_prep_before_the_day_before(client, personas, db):
    await make_session(db, personas.alice, at=utcnow() + timedelta(days=3))
    await client.login(personas.alice)
    today = await client.get("/today")
    assert "Session prep" not in today.text


async def test_today_page_costs_at_most_one_query_more(client, app, personas, db):
    async def count() -> int:
        statements: list[str] = []
        engine = app.state.db.engine.sync_engine

        def record(_conn, _cursor, statement, *_args):
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", record)
        try:
            assert (await client.get("/today")).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", record)
        return sum("session_prep" in s for s in statements)

    await client.login(personas.alice)
    await make_session(db, personas.alice, at=utcnow() + timedelta(days=3))
    assert await count() == 0
    await make_session(db, personas.alice, at=utcnow() + timedelta(hours=20))
    assert await count() == 1


async def add_prep(db, treatment, by, *, bp, **answers) -> None:
    """The patient's checklist answers for ``treatment``: all fine unless ``answers`` say otherwise."""
    fields = {"fasting_ok": True, "ride_home": True, "medication_changes": False} | answers
    async with db.writing() as session:
        session.add(
            SessionPrep(clinic_id=treatment.clinic_id, patient_id=treatment.patient_id,
                        treatment_session_id=treatment.id, bp_systolic=bp[0], bp_diastolic=bp[1],
                        answered_by_id=by.user_id, **fields)
        )


async def test_readiness_for_sessions(personas, db):
    answered = await make_session(db, personas.alice, at=utcnow() + timedelta(hours=2))
    high = await make_session(db, personas.alice, at=utcnow() + timedelta(hours=3))
    unanswered = await make_session(db, personas.bob, at=utcnow() + timedelta(hours=4))
    await add_prep(db, answered, personas.alice, bp=(130, 85), nasal_spray="on_time")
    await add_prep(db, high, personas.alice, fasting_ok=False, ride_home=False, medication_changes=True,
                   medication_note="new statin", bp=(150, 85), nasal_spray="on_time")
    statements: list[str] = []
    async with db.reading() as session:
        engine = session.bind.sync_engine  # type: ignore[union-attr]

        def record(_conn, _cursor, statement, *_args):
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", record)
        try:
            found = await readiness_for_sessions(session, [answered.id, high.id, unanswered.id, 999999])
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert await readiness_for_sessions(session, []) == {}
        assert (await session.execute(select(func.count(SessionPrep.id)))).scalar_one() == 2
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1
    assert set(found) == {answered.id, high.id, unanswered.id}
    ok = found[answered.id]
    assert ok.answered and ok.fasting_ok and ok.ride_ok and not ok.medication_changes
    assert ok.bp == (130, 85) and not ok.bp_high and ok.ready
    bad = found[high.id]
    assert bad.bp_high and not bad.fasting_ok and not bad.ride_ok and bad.medication_changes and not bad.ready
    assert bad.lines()[:3] == ["Fasting NOT followed", "NO ride home arranged", "Medication changes: new statin"]
    assert "Checklist BP 150/85 — above hold threshold" in bad.lines()
    assert found[unanswered.id] == Readiness(answered=False)
    assert found[unanswered.id].lines() == ["Pre-session checklist not answered"]


async def test_readiness_uses_the_clinic_hold_threshold(personas, db):
    async with db.writing() as session:
        clinic = await session.get_one(Clinic, personas.north_id)
        clinic.settings = {"risk": {"thresholds": {"bp_hold_systolic": 160}}}
    treatment = await make_session(db, personas.alice, at=utcnow() + timedelta(hours=2))
    await add_prep(db, treatment, personas.alice, bp=(150, 85))
    async with db.reading() as session:
        found = await readiness_for_sessions(session, [treatment.id])
    assert not found[treatment.id].bp_high


async def test_admin_sets_the_fasting_window(client, personas, db):
    from tests.clinic.test_admin import _settings_form

    await client.login(personas.ada)
    page = await client.get("/clinic/admin")
    assert 'name="fasting_iv_food_hours"' in page.text and 'value="4"' in page.text
    bad = await client.post_form("/clinic/admin/settings", _settings_form(fasting_iv_food_hours="30"))
    assert bad.status_code == 422 and "Enter a number from 0 to 24" in bad.text
    saved = await client.post_form(
        "/clinic/admin/settings", _settings_form(fasting_iv_food_hours="6", fasting_iv_liquids_minutes="60")
    )
    assert saved.status_code == 303
    async with db.reading() as session:
        clinic = await session.get_one(Clinic, personas.north_id)
    assert fasting_window(clinic.settings, "iv") == FastingWindow(6, 60)
    assert fasting_window(clinic.settings, "esketamine_nasal") == FastingWindow(2, 30)


def test_demo_patients_have_plans_and_checklists(tmp_path):
    import anyio

    from companion.clinic.models import TreatmentPlan
    from companion.db import Database
    from companion.demo import build_demo
    from companion.models import metadata
    from companion.settings import DatabaseSettings
    from tests.test_demo_data import TODAY

    async def run() -> tuple[list[TreatmentPlan], list[SessionPrep], int]:
        db = Database(DatabaseSettings(url=f"sqlite:///{tmp_path}/demo.db"))
        try:
            async with db.engine.begin() as conn:
                await conn.run_sync(metadata.create_all)
            await build_demo(db, today=TODAY, seed=7)
            async with db.reading() as session:
                plans = list(await session.scalars(select(TreatmentPlan)))
                preps = list(await session.scalars(select(SessionPrep)))
                patients = await session.scalar(select(func.count()).select_from(metadata.tables["patient"]))
            return plans, preps, patients or 0
        finally:
            await db.dispose()

    plans, preps, patients = anyio.run(run)
    assert {p.patient_id for p in plans} and len({p.patient_id for p in plans}) == patients
    assert {p.phase for p in plans} >= {"induction", "optimisation", "maintenance"}
    assert {p.route for p in plans} == {"esketamine_nasal", "iv"}
    assert len({p.patient_id for p in preps}) == patients
    assert all(p.answered_at.date() <= TODAY + timedelta(days=1) for p in preps)
    assert any(p.bp_systolic for p in preps) and any(p.nasal_spray for p in preps)


async def test_dashboard_shows_checklist_readiness(client_factory, personas, db):
    from tests.clinic.helpers import add_checkins

    treatment = await make_session(db, personas.alice, at=utcnow() + timedelta(minutes=20))
    await make_session(db, personas.bob, at=utcnow() + timedelta(minutes=25))
    await add_checkins(db, personas.alice, {utcnow().date(): 6}, bp=(150, 95))
    async with client_factory() as alice:
        await alice.login(personas.alice)
        url = f"/sessions/{treatment.code}/prep"
        body = GOOD | {"ride_home": "no", "bp_systolic": "152", "bp_diastolic": "88"}
        assert (await alice.post_form(url, body | {"idempotency_key": await alice.form_key(url)})).status_code == 303
    async with client_factory() as carol:
        await carol.login(personas.carol)
        html = (await carol.get("/clinic")).text
    section = html[html.index('id="today-title"') : html.index('id="all-title"')]
    assert "Alice Patient" in section and "Bob Patient" not in section
    assert "NO ride home arranged" in section and "Medication changes: Started sertraline 50 mg" in section
    assert "Checklist BP 152/88 — above hold threshold" in section and "Fasting ok" in section
    assert "Home BP 150/95" in section and "Checklist: check before dosing" in section
    async with client_factory() as dave:
        await dave.login(personas.dave)
        html = (await dave.get("/clinic")).text
    section = html[html.index('id="today-title"') : html.index('id="all-title"')]
    assert "Bob Patient" in section and "Pre-session checklist not answered" in section
    assert "Alice Patient" not in section


async def test_checklist_blood_pressure_is_judged_as_a_pre_session_reading(client_factory, personas, db):
    """Above the hold threshold: C3 (Low) and the patient is told to mention it; crisis range: C2
    (High) with what to do; the alert's detail shows the checklist. Evaluated in the entry's
    transaction like every entry."""
    from companion.alerts.models import Alert

    treatment = await make_session(db, personas.alice, at=utcnow() + timedelta(hours=20))
    url = f"/sessions/{treatment.code}/prep"
    async with client_factory() as alice:
        await alice.login(personas.alice)
        calm = await alice.post_form(url, GOOD | {"idempotency_key": await alice.form_key(url)})
        assert calm.headers["location"] == "/sessions?saved=prep"
        raised = GOOD | {"bp_systolic": "152", "bp_diastolic": "88"}
        above = await alice.post_form(url, raised | {"idempotency_key": await alice.form_key(url)})
        assert above.headers["location"] == "/sessions?saved=prep&bp=C3"
        page = await alice.get(above.headers["location"])
        assert "tell the clinic when you arrive" in page.text
        crisis = GOOD | {"bp_systolic": "186", "bp_diastolic": "112"}
        high = await alice.post_form(url, crisis | {"idempotency_key": await alice.form_key(url)})
        assert high.headers["location"] == "/sessions?saved=prep&bp=C2"
        assert "Rest for 5 minutes and measure it again" in (await alice.get(high.headers["location"])).text
    async with db.reading() as session:
        alerts = list((await session.execute(select(Alert).order_by(Alert.id))).scalars())
    assert [(a.rule_id, a.severity, a.source_kind) for a in alerts] == [("C3", "low", "prep"), ("C2", "high", "prep")]
    async with client_factory() as carol:
        await carol.login(personas.carol)
        detail = await carol.get(f"/clinic/alerts/{alerts[1].code}")
        assert detail.status_code == 200 and "Pre-session checklist answered" in detail.text
        assert "home BP 186/112" in detail.text
