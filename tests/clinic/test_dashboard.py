"""The triage dashboard: ordering, flags, live alerts, admin view, and a constant number of queries."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import event

from companion.alerts.models import Alert, AlertEvent
from companion.db import utcnow
from tests.clinic.helpers import add_checkins, add_phq9
from tests.factories import make_patient, make_session


async def _alert(db, person, rule="A7", severity="critical", due_in=timedelta(minutes=15), status="open"):
    now = utcnow()
    async with db.writing() as session:
        alert = Alert(
            clinic_id=person.clinic_id,
            patient_id=person.patient_id,
            rule_id=rule,
            severity=severity,
            reason=f"{rule} reason",
            source_kind="help",
            source_code="x",
            status=status,
            note="",
            created_at=now,
            response_due_at=now + due_in if due_in is not None else None,
        )
        session.add(alert)
        await session.flush()
        session.add(
            AlertEvent(clinic_id=person.clinic_id, alert_id=alert.id, kind="created", severity=severity, created_at=now)
        )
    return alert


async def _patients(db, personas, count):
    from companion.accounts.models import Clinic

    async with db.reading() as session:
        north = await session.get_one(Clinic, personas.north_id)
    carol = personas.carol
    people = []
    today = utcnow().date()
    for index in range(count):
        person = await make_patient(db, north, f"p{index}@x.example", f"Patient {index:02d}", [carol])
        await add_checkins(db, person, {today - timedelta(days=n): 5 + n % 3 for n in range(20)})
        await add_phq9(db, person, 18, utcnow() - timedelta(days=30))
        await add_phq9(db, person, 11, utcnow() - timedelta(days=2))
        await make_session(db, person, at=utcnow() - timedelta(days=10), status="attended")
        await make_session(db, person, at=utcnow() + timedelta(minutes=30))
        await _alert(db, person, rule="B1", severity="medium", due_in=timedelta(hours=8))
        people.append(person)
    return people


async def _count_dashboard_queries(client, app) -> int:
    statements: list[str] = []
    engine = app.state.db.engine.sync_engine

    def count(_conn, _cursor, statement, *_args):
        # The audit copier (companion.clinic.audit_copy) wakes after each audit commit and reads in
        # its own task, concurrently with the page: its statements are not the dashboard's.
        task = asyncio.current_task()
        if task is None or task.get_name() != "audit-copy":
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        response = await client.get("/clinic")
        assert response.status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(statements)


async def test_query_count_does_not_grow_with_patients(client, app, personas, db):
    await client.login(personas.carol)
    await _patients(db, personas, 5)
    await client.get("/clinic")  # warm up
    few = await _count_dashboard_queries(client, app)
    await _patients_more(db, personas)
    many_page = await client.get("/clinic")
    assert many_page.text.count('class="spark"') >= 31
    many = await _count_dashboard_queries(client, app)
    print(f"dashboard queries: {few} for 5 patients, {many} for 30 patients")
    assert few == many


async def _patients_more(db, personas):
    from companion.accounts.models import Clinic

    async with db.reading() as session:
        north = await session.get_one(Clinic, personas.north_id)
    today = utcnow().date()
    for index in range(5, 30):
        person = await make_patient(db, north, f"p{index}@x.example", f"Patient {index:02d}", [personas.carol])
        await add_checkins(db, person, {today - timedelta(days=n): 6 for n in range(0, 20, 2)})
        await add_phq9(db, person, 15, utcnow() - timedelta(days=3))


async def test_alerts_first_by_severity_and_due_time_overdue_marked(client, personas, db):
    await _alert(db, personas.alice, rule="B1", severity="medium", due_in=timedelta(hours=20))
    await _alert(db, personas.alice, rule="C2", severity="high", due_in=timedelta(hours=-1))
    await _alert(db, personas.alice, rule="A7", severity="critical", due_in=timedelta(minutes=10))
    await _alert(db, personas.bob, rule="A1", severity="critical", due_in=timedelta(minutes=5))  # dave's patient
    await client.login(personas.carol)
    html = (await client.get("/clinic")).text
    section = html[html.index('id="dashboard-alerts"') : html.index('id="attention-title"')]
    order = [section.index(f"Alice Patient: {rule}") for rule in ("A7", "C2", "B1")]
    assert order == sorted(order)
    assert ": A1<" not in section and "Bob" not in section
    assert section.count("Overdue") == 1
    assert "Worsening (B1)" in html
    assert "No working notification channel" in html  # nobody here has push or e-mail switched on


async def test_new_alert_arrives_through_the_cheap_poll(client_factory, personas, db):
    async with client_factory() as c:
        await c.login(personas.carol)
        page = await c.get("/clinic")
        since = page.text.split("/clinic/alerts-feed?since=")[1].split('"')[0]
        from urllib.parse import unquote

        since = unquote(since)
        quiet = await c.get("/clinic/alerts-feed", params={"since": since}, headers={"HX-Request": "true"})
        assert quiet.status_code == 204 and quiet.text == ""
        # another web process (or the worker) writes a Critical alert
        await _alert(db, personas.alice, rule="A7", severity="critical")
        fresh = await c.get("/clinic/alerts-feed", params={"since": since}, headers={"HX-Request": "true"})
        assert fresh.status_code == 200 and "Alice Patient: A7" in fresh.text and "<html" not in fresh.text
        newer = fresh.text.split("/clinic/alerts-feed?since=")[1].split('"')[0]
        again = await c.get("/clinic/alerts-feed", params={"since": unquote(newer)})
        assert again.status_code == 204
    async with client_factory() as c:  # dave does not see alice's alert
        await c.login(personas.dave)
        assert (await c.get("/clinic/alerts-feed", params={"since": ""})).status_code == 204  # none of his
        assert "Alice" not in (await c.get("/clinic/alerts-feed", params={"since": "x"})).text


async def test_todays_sessions_show_readiness(client, personas, db):
    await make_session(db, personas.alice, at=utcnow() + timedelta(minutes=20))
    await add_checkins(db, personas.alice, {utcnow().date(): 6}, bp=(150, 95))
    await client.login(personas.carol)
    html = (await client.get("/clinic")).text
    section = html[html.index('id="today-title"') : html.index('id="all-title"')]
    assert "Alice Patient" in section and "Home BP 150/95" in section and "above hold threshold" in section


async def test_admin_sees_the_clinic_without_clinical_content(client, personas, db):
    await _alert(db, personas.alice, rule="A7", severity="critical")
    await add_phq9(db, personas.alice, 22, utcnow() - timedelta(days=1), "severe")
    await client.login(personas.ada)
    html = (await client.get("/clinic")).text
    assert "Alice Patient" in html and "Bob Patient" in html and "Carol Clinician" in html
    for clinical in ("A7", "severe", "PHQ-9", "mood", "Critical"):
        assert clinical not in html, clinical


async def _push(db, person, n, *, disabled):
    from companion.notify.delivery_models import PushSubscription

    async with db.writing() as session:
        session.add(
            PushSubscription(
                clinic_id=person.clinic_id,
                user_id=person.user_id,
                endpoint=f"https://push.example/{person.user_id}/{n}",
                p256dh="key",
                auth="auth",
                disabled_at=utcnow() - timedelta(days=1) if disabled else None,
            )
        )


def _row(html, name):
    """The dashboard table row of one patient, from their name to the end of the row."""
    start = html.index(f">{name}</a>")
    return html[start : html.index("</tr>", start)]


async def test_patient_without_a_working_notification_channel_is_flagged(client, app, personas, db):
    from companion.accounts.models import Clinic
    from companion.notify.delivery_models import NotificationPreference

    async with db.reading() as session:
        north = await session.get_one(Clinic, personas.north_id)
    # Alice's every subscription was disabled (the push service answered 410) and she has no e-mail fallback.
    await _push(db, personas.alice, 1, disabled=True)
    await _push(db, personas.alice, 2, disabled=True)
    # Erin has one dead and one working subscription; Finn has no push but e-mail switched on.
    erin = await make_patient(db, north, "erin@patient.example", "Erin Patient", [personas.carol])
    await _push(db, erin, 1, disabled=True)
    await _push(db, erin, 2, disabled=False)
    finn = await make_patient(db, north, "finn@patient.example", "Finn Patient", [personas.carol])
    async with db.writing() as session:
        session.add(NotificationPreference(clinic_id=finn.clinic_id, user_id=finn.user_id, email_enabled=True))
    await client.login(personas.carol)
    html = (await client.get("/clinic")).text
    assert "No working notification channel" in _row(html, "Alice Patient")
    assert "No working notification channel" not in _row(html, "Erin Patient")
    assert "No working notification channel" not in _row(html, "Finn Patient")
    attention = html[html.index('id="attention-title"') : html.index('id="today-title"')]
    assert ">Alice Patient</a>" in attention
    # one grouped query for everyone: more patients with more subscriptions add no query
    before = await _count_dashboard_queries(client, app)
    for index in range(3):
        person = await make_patient(db, north, f"g{index}@patient.example", f"G Patient {index}", [personas.carol])
        await _push(db, person, 1, disabled=index % 2 == 0)
    assert await _count_dashboard_queries(client, app) == before
