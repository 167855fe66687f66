"""The fading-response job raises one Low alert per fading patient, and the dashboard flags them."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from companion.alerts.models import Alert
from companion.clinic.fading_job import raise_fading_alerts
from companion.db import utcnow
from tests.clinic.helpers import add_checkins
from tests.clinic.test_fading import fading, steady
from tests.factories import make_session


async def _trajectory(db, person, shape):
    today = utcnow().date()
    first = today - timedelta(days=42)
    moods = {first + timedelta(days=n): round(3 if n < 0 else shape(n)) for n in range(-14, 43)}
    await add_checkins(db, person, moods)
    for n in range(0, 42, 7):
        await make_session(db, person, at=utcnow() - timedelta(days=42 - n, hours=-1), status="attended")


async def test_fading_patient_gets_one_low_alert_and_a_dashboard_flag(client, personas, db):
    await _trajectory(db, personas.alice, fading)
    await _trajectory(db, personas.bob, steady)
    assert await raise_fading_alerts(db, personas.north_id) == 1
    assert await raise_fading_alerts(db, personas.north_id) == 1  # attaches, does not duplicate
    async with db.reading() as session:
        alerts = list((await session.execute(select(Alert))).scalars())
    assert [(a.patient_id, a.rule_id, a.severity) for a in alerts] == [(personas.alice.patient_id, "FR", "low")]
    assert "review" in alerts[0].reason
    await client.login(personas.carol)
    html = (await client.get("/clinic")).text
    attention = html[html.index('id="attention-title"') : html.index('id="today-title"')]
    assert "Alice Patient" in attention and "Fading response" in attention
