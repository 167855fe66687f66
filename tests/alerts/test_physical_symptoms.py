"""Warning symptoms on the check-in feed the physical rules (C1, C4, C6, C11) and their alerts."""

from __future__ import annotations

from sqlalchemy import select

from companion.alerts.models import Alert
from companion.checkins.models import CheckIn

CALM = {"mood": "6", "anxiety": "3", "energy": "5", "safety": "none"}


async def alerts(db) -> dict[str, Alert]:
    async with db.reading() as session:
        return {a.rule_id: a for a in (await session.execute(select(Alert))).scalars()}


async def test_stroke_symptoms_are_critical_and_show_emergency_help(client, personas, db):
    await client.login(personas.alice)
    form = list(CALM.items()) + [("symptom", "slurred_speech"), ("symptom", "one_sided_weakness")]
    response = await client.post_form("/checkin", form)
    assert response.status_code == 200 and 'id="crisis-card"' in response.text and 'href="tel:911"' in response.text
    found = await alerts(db)
    assert found["C1"].severity == "critical"
    async with db.reading() as session:
        row = (await session.execute(select(CheckIn))).scalar_one()
    assert row.symptoms == ["one_sided_weakness", "slurred_speech"]


async def test_pregnancy_and_bladder_symptoms_alert_without_crisis_card(client, personas, db):
    await client.login(personas.alice)
    form = list(CALM.items()) + [("symptom", "pregnancy"), ("symptom", "cannot_pass_urine")]
    response = await client.post_form("/checkin", form)
    assert response.status_code == 303  # not a crisis: the usual redirect
    found = await alerts(db)
    assert (found["C11"].severity, found["C6"].severity) == ("medium", "high")


async def test_unknown_symptom_is_refused_and_nothing_saved(client, personas, db):
    await client.login(personas.alice)
    response = await client.post_form("/checkin", list(CALM.items()) + [("symptom", "sniffles")])
    assert response.status_code == 422 and "Choose symptoms from the list shown." in response.text
    async with db.reading() as session:
        assert (await session.execute(select(CheckIn))).first() is None


async def test_api_accepts_symptoms(client, personas, db):
    await client.login(personas.alice)
    body = {"mood": 5, "anxiety": 4, "energy": 3, "safety": "none", "symptoms": ["fainting"]}
    response = await client.post_json("/api/v1/checkins", body)
    assert response.status_code == 201 and response.json()["crisis"] is True
    assert response.json()["checkin"]["symptoms"] == ["fainting"]
    assert (await alerts(db))["C4"].severity == "critical"
    bad = await client.post_json("/api/v1/checkins", body | {"symptoms": "fainting"})
    assert bad.status_code == 422


async def test_a_sharp_mood_drop_prompts_the_phq9(client, personas, db):
    from datetime import timedelta

    from companion.checkins.service import local_date_for
    from companion.db import utcnow

    today = local_date_for("America/New_York", utcnow())
    async with db.writing() as session:
        for days_ago in range(1, 9):
            session.add(
                CheckIn(
                    clinic_id=personas.north_id,
                    patient_id=personas.alice.patient_id,
                    local_date=today - timedelta(days=days_ago),
                    timezone="America/New_York",
                    mood=1 if days_ago <= 2 else 8,
                    anxiety=3,
                    energy=5,
                    safety="none",
                    note="",
                    created_by_id=personas.alice.user_id,
                    created_at=utcnow() - timedelta(days=days_ago),
                )
            )
    await client.login(personas.alice)
    response = await client.post_form("/checkin", CALM | {"mood": "1"})
    assert response.status_code == 303 and response.headers["location"] == "/today?saved=checkin&suggest=phq9"
    today_page = await client.get(response.headers["location"])
    assert "Your mood has been lower than usual" in today_page.text
    assert (await alerts(db))["B6"].severity == "medium"
