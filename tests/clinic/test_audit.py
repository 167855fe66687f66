"""The audit trail: one row per staff view, append-only on both engines, tamper-evident (S10, LOG-03)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from companion.clinic import audit
from companion.clinic.models import AuditEvent
from tests.clinic.helpers import as_superuser, audit_rows
from tests.clinic.test_dashboard import _alert
from tests.factories import make_session


def phi_routes(personas, alert_code):
    """Every route that shows a patient's data to staff, with its expected audit action."""
    code = personas.alice.patient_code
    return [
        ("carol", f"/clinic/patients/{code}", "view_record", personas.alice.patient_id),
        ("carol", "/clinic", "view_dashboard", None),
        ("carol", "/clinic/alerts-feed?since=x", "view_alert_feed", None),
        ("carol", "/clinic/alerts", "view_alert_feed", None),
        ("carol", f"/clinic/alerts/{alert_code}", "view_alert", personas.alice.patient_id),
        ("carol", "/api/v1/alerts", "view_alert_feed", None),
        ("ada", "/clinic", "view_dashboard", None),
        ("ada", "/clinic/admin/audit", "view_audit", None),
    ]


async def test_each_staff_view_writes_exactly_one_audit_row(client_factory, personas, db):
    await make_session(db, personas.alice)
    alert = await _alert(db, personas.alice)
    routes = phi_routes(personas, alert.code)
    missing = extra = 0
    for who, url, action, patient_id in routes:
        async with client_factory() as c:
            await c.login(getattr(personas, who))
            before = len(await audit_rows(db))
            response = await c.get(url)
            assert response.status_code == 200, url
            rows = (await audit_rows(db))[before:]
            person = getattr(personas, who)
            missing += len(rows) == 0
            extra += max(len(rows) - 1, 0)
            assert len(rows) == 1, (url, [r.action for r in rows])
            row = rows[0]
            assert (row.action, row.actor_id, row.actor_role, row.patient_id) == (
                action,
                person.user_id,
                person.role,
                patient_id,
            )
            assert row.why in ("treatment", "admin task") and row.at.tzinfo is not None
    async with db.reading() as session:
        report = await audit.verify_chain(session, personas.north_id)
    assert report.ok, report.problems
    print(f"audit: {len(routes)} PHI routes, {missing} missing audit rows, {extra} extra rows")


async def test_the_patient_sees_who_looked_at_their_record(client_factory, personas, db):
    async with client_factory() as c:
        await c.login(personas.carol)
        assert (await c.get(f"/clinic/patients/{personas.alice.patient_code}")).status_code == 200
    async with client_factory() as c:
        await c.login(personas.alice)
        page = await c.get("/my-record/views")
        assert page.status_code == 200
        assert "Carol Clinician" in page.text and "viewed record" in page.text
    async with client_factory() as c:
        await c.login(personas.bob)
        page = await c.get("/my-record/views")
        assert "Carol Clinician" not in page.text


async def test_the_application_cannot_update_or_delete_audit_rows(personas, db):
    async with db.writing() as session:
        await audit.append(
            session,
            clinic_id=personas.north_id,
            actor_id=personas.carol.user_id,
            actor_role="clinician",
            action="view_record",
            what="test",
            patient_id=personas.alice.patient_id,
        )
    for statement in ("UPDATE audit_event SET what = 'edited'", "DELETE FROM audit_event"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.writing() as session:
                await session.execute(text(statement))
    assert [r.what for r in await audit_rows(db)] == ["test"]


async def _chain(db, personas, n=5):
    for index in range(n):
        async with db.writing() as session:
            await audit.append(
                session,
                clinic_id=personas.north_id,
                actor_id=personas.carol.user_id,
                actor_role="clinician",
                action="view_record",
                what=f"row {index}",
                patient_id=personas.alice.patient_id,
            )
    async with db.writing() as session:  # another clinic's chain is separate
        await audit.append(
            session,
            clinic_id=personas.south_id,
            actor_id=personas.erin.user_id,
            actor_role="clinician",
            action="view_dashboard",
            what="south",
        )


async def _verify(db, clinic_id):
    async with db.reading() as session:
        return await audit.verify_chain(session, clinic_id)


async def test_chain_detects_an_edited_row(personas, db):
    await _chain(db, personas)
    assert (await _verify(db, personas.north_id)).ok
    assert (await _verify(db, personas.south_id)).rows == 1
    await as_superuser(
        db,
        "UPDATE audit_event SET actor_id = :dave WHERE clinic_id = :c AND seq = 3",
        {"dave": personas.dave.user_id, "c": personas.north_id},
    )
    report = await _verify(db, personas.north_id)
    assert not report.ok and any("seq 3" in p and "edited" in p for p in report.problems)
    assert (await _verify(db, personas.south_id)).ok
    print("audit: tamper detected = yes (edited row)")


async def test_chain_detects_a_deleted_row(personas, db):
    await _chain(db, personas)
    await as_superuser(db, "DELETE FROM audit_event WHERE clinic_id = :c AND seq = 2", {"c": personas.north_id})
    report = await _verify(db, personas.north_id)
    assert not report.ok and any("gap" in p for p in report.problems)


async def test_chain_detects_a_rehashed_edit(personas, db):
    """Recomputing the edited row's own hash still breaks the next row's link."""
    await _chain(db, personas)
    async with db.reading() as session:
        row = (
            await session.execute(
                AuditEvent.__table__.select().where(AuditEvent.clinic_id == personas.north_id, AuditEvent.seq == 2)
            )
        ).first()
    forged = AuditEvent(**{k: v for k, v in row._mapping.items()})
    forged.what = "nothing to see"
    new_hash = audit.row_hash(forged)
    await as_superuser(
        db,
        "UPDATE audit_event SET what = :w, row_hash = :h WHERE id = :id",
        {"w": forged.what, "h": new_hash, "id": forged.id},
    )
    report = await _verify(db, personas.north_id)
    assert not report.ok and any("seq 3" in p and "prev_hash" in p for p in report.problems)


async def test_concurrent_writers_keep_one_chain(personas, db):
    import asyncio

    from companion.db import Database

    others = [Database(db.settings, null_pool=True) for _ in range(4)]

    async def write(database, n):
        for index in range(5):
            async with database.writing() as session:
                await audit.append(
                    session,
                    clinic_id=personas.north_id,
                    actor_id=None,
                    actor_role="system",
                    action="view_dashboard",
                    what=f"w{n}-{index}",
                )

    try:
        await asyncio.gather(*(write(d, n) for n, d in enumerate(others)))
    finally:
        for d in others:
            await d.dispose()
    report = await _verify(db, personas.north_id)
    assert report.ok and report.rows == 20
