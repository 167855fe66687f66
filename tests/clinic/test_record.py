"""The patient record page: charts, shared-only journal, summary figures; plans and sessions."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from companion.alerts.models import Alert
from companion.clinic.models import TreatmentPlan
from companion.db import utcnow
from companion.treatments.models import TreatmentSession
from tests.clinic.helpers import add_checkins, add_journal, add_phq9, audit_rows
from tests.factories import make_session


async def _history(db, personas):
    now = utcnow()
    first = now - timedelta(days=30)
    await add_phq9(db, personas.alice, 20, first - timedelta(days=2), "severe")
    await add_phq9(db, personas.alice, 9, now - timedelta(days=1), "mild")
    for n in range(0, 30, 7):
        await make_session(db, personas.alice, at=first + timedelta(days=n), status="attended")
    today = now.date()
    await add_checkins(db, personas.alice, {today - timedelta(days=n): 6 for n in range(40)}, bp=(128, 82))


async def test_record_shows_charts_summary_and_only_shared_entries(client, personas, db):
    await _history(db, personas)
    await add_journal(db, personas.alice, "SHARED-canary words", shared=True)
    await add_journal(db, personas.alice, "PRIVATE-canary words", shared=False)
    await client.login(personas.carol)
    page = await client.get(f"/clinic/patients/{personas.alice.patient_code}")
    assert page.status_code == 200
    html = page.text
    for title in ("Daily mood", "PHQ-9", "GAD-7", "Side effects, last 90 days", "Home blood pressure"):
        assert f">{title}</" in html, title
    assert html.count('<title id="chart-') == 3  # mood, PHQ-9, BP; GAD-7 and side effects empty
    assert "SHARED-canary" in html and "PRIVATE-canary" not in html
    summary = html[html.index('id="summary"') : html.index('id="charts"')]
    assert "baseline</dt><dd>20<" in summary and "now</dt><dd>9 " in summary and "-55%" in summary
    assert re.search(r"Response \(≥50% fall\)</dt><dd>Yes", summary)
    assert re.search(r"Sessions attended</dt><dd>5", summary)
    assert ' style="' not in html  # the CSP forbids inline styles


async def test_plan_saves_as_new_version_with_and_without_htmx(client, personas, db):
    await client.login(personas.carol)
    url = f"/clinic/patients/{personas.alice.patient_code}/plan"
    form = {
        "phase": "induction",
        "route": "esketamine_nasal",
        "frequency": "twice weekly",
        "sessions_per_week": "2",
        "start_date": "2026-12-01",
        "notes": "Start 56 mg",
    }
    plain = await client.post_form(url, form)
    assert plain.status_code == 303
    fragment = await client.post_form(url, form | {"phase": "maintenance", "frequency": "weekly"}, htmx=True)
    assert fragment.status_code == 200 and fragment.headers["HX-Trigger"] == "plan-changed"
    assert 'id="plan"' in fragment.text and "<html" not in fragment.text and "Maintenance" in fragment.text
    bad = await client.post_form(url, form | {"phase": "forever"})
    assert bad.status_code == 422
    async with db.reading() as session:
        plans = list((await session.execute(select(TreatmentPlan).order_by(TreatmentPlan.id))).scalars())
    assert [p.phase for p in plans] == ["induction", "maintenance"]
    assert [r.action for r in await audit_rows(db)].count("plan_change") == 2


async def test_schedule_move_cancel_and_attendance(client, personas, db):
    await client.login(personas.carol)
    base = f"/clinic/patients/{personas.alice.patient_code}/sessions"
    created = await client.post_form(
        base, {"date": "2030-01-02", "time": "10:00", "route": "iv", "phase": "induction"}, htmx=True
    )
    assert created.status_code == 200 and created.headers["HX-Trigger"] == "sessions-changed"
    async with db.reading() as session:
        row = (await session.execute(select(TreatmentSession))).scalar_one()
    moved = await client.post_form(f"{base}/{row.code}/move", {"date": "2030-01-03", "time": "11:30"})
    assert moved.status_code == 303
    too_early = await client.post_form(f"{base}/{row.code}/status", {"status": "attended"})
    assert too_early.status_code == 409
    cancelled = await client.post_form(f"{base}/{row.code}/status", {"status": "cancelled"}, htmx=True)
    assert cancelled.status_code == 200 and "cancelled" in cancelled.text
    not_movable = await client.post_form(f"{base}/{row.code}/move", {"date": "2030-01-04", "time": "11:30"})
    assert not_movable.status_code == 409
    async with db.reading() as session:
        row = (await session.execute(select(TreatmentSession))).scalar_one()
    assert row.status == "cancelled" and row.scheduled_at == datetime(2030, 1, 3, 16, 30, tzinfo=UTC)
    assert [r.what.split(": ")[1] for r in await audit_rows(db) if r.action == "session_change"] == [
        "scheduled",
        "moved",
        "cancelled",
    ]


async def test_outsiders_get_404_on_every_change(client_factory, personas, db):
    treatment = await make_session(db, personas.alice)
    code = personas.alice.patient_code
    posts = [
        (f"/clinic/patients/{code}/sessions/{treatment.code}/status", {"status": "cancelled"}),
        (f"/clinic/patients/{code}/sessions/{treatment.code}/move", {"date": "2030-01-03", "time": "11:30"}),
        (
            f"/clinic/patients/{code}/plan",
            {"phase": "induction", "route": "iv", "frequency": "weekly", "start_date": "2030-01-01"},
        ),
    ]
    for who in ("dave", "erin", "ada", "bob"):
        async with client_factory() as c:
            await c.login(getattr(personas, who))
            for url, form in posts:
                assert (await c.post_form(url, form)).status_code == 404, (who, url)
    # carol cannot reach bob's session through alice's record
    bobs = await make_session(db, personas.bob)
    async with client_factory() as c:
        await c.login(personas.carol)
        url = f"/clinic/patients/{code}/sessions/{bobs.code}/status"
        assert (await c.post_form(url, {"status": "cancelled"})).status_code == 404


async def test_missed_session_while_worsening_raises_d1(client, personas, db):
    treatment = await make_session(db, personas.alice, at=utcnow() - timedelta(hours=3))
    async with db.writing() as session:
        session.add(
            Alert(
                clinic_id=personas.north_id,
                patient_id=personas.alice.patient_id,
                rule_id="B1",
                severity="medium",
                reason="PHQ-9 rose by 6",
                source_kind="questionnaire",
                source_code="x",
                status="open",
                note="",
            )
        )
    await client.login(personas.carol)
    url = f"/clinic/patients/{personas.alice.patient_code}/sessions/{treatment.code}/status"
    assert (await client.post_form(url, {"status": "missed"})).status_code == 303
    async with db.reading() as session:
        rules = sorted((await session.execute(select(Alert.rule_id))).scalars())
    assert rules == ["B1", "D1"]
