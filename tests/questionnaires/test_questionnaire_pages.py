"""Questionnaire pages over HTTP: wording, validation, storage with the entry's risk evaluation."""

from __future__ import annotations

from sqlalchemy import func, select

from companion.accounts.models import Clinic
from companion.alerts.models import Alert
from companion.questionnaires.models import QuestionnaireResponse

PHQ9_MILD = {f"q{i}": "1" for i in range(1, 9)} | {"q9": "0"}


async def count(db, model=QuestionnaireResponse) -> int:
    async with db.reading() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def stored(db) -> list[QuestionnaireResponse]:
    async with db.reading() as session:
        return list((await session.execute(select(QuestionnaireResponse))).scalars())


async def test_phq9_form_shows_the_official_wording_and_a_key(client, personas):
    await client.login(personas.alice)
    page = await client.get("/questionnaires/phq9")
    assert page.status_code == 200
    assert "Little interest or pleasure in doing things" in page.text
    assert "Thoughts that you would be better off dead or of hurting yourself in some way" in page.text
    assert "No permission required to reproduce" in page.text
    assert 'name="idempotency_key"' in page.text and "content-security-policy" in page.headers


async def test_a_mild_phq9_is_stored_scored_and_explained(client, personas, db):
    await client.login(personas.alice)
    key = await client.form_key("/questionnaires/phq9")
    response = await client.post_form("/questionnaires/phq9", PHQ9_MILD | {"difficulty": "2", "idempotency_key": key})
    assert response.status_code == 201
    assert "add up to 8 out of 27" in response.text and "mild range" in response.text
    assert 'id="crisis-card"' not in response.text
    [row] = await stored(db)
    assert (row.total, row.band, row.instrument_version, row.complete) == (8, "mild", "phq9-en-2024.1", True)
    assert row.answers["difficulty"] == 2 and row.answers["q9"] == 0
    again = await client.post_form("/questionnaires/phq9", PHQ9_MILD | {"difficulty": "2", "idempotency_key": key})
    assert again.status_code == 200 and await count(db) == 1  # replayed, not stored twice


async def test_phq9_item9_shows_help_and_offers_the_asq(client, personas, db):
    await client.login(personas.alice)
    response = await client.post_form("/questionnaires/phq9", PHQ9_MILD | {"q9": "1"})
    assert response.status_code == 201
    assert 'id="crisis-card"' in response.text and 'href="tel:911"' in response.text
    assert "/questionnaires/asq?trigger=phq9_item9" in response.text
    async with db.reading() as session:
        rules = set((await session.execute(select(Alert.rule_id))).scalars())
    assert "A3" in rules


async def test_out_of_range_and_unknown_answers_are_refused_and_nothing_saved(client, personas, db):
    await client.login(personas.alice)
    response = await client.post_form("/questionnaires/phq9", PHQ9_MILD | {"q3": "7", "q12": "1"})
    assert response.status_code == 422
    assert "question 3: 7 is out of range" in response.text
    assert "not part of the form" in response.text or "no question called" in response.text
    bad_text = await client.post_form("/questionnaires/gad7", {f"q{i}": "x" for i in range(1, 8)})
    assert bad_text.status_code == 422 and "is not one of the answers" in bad_text.text
    assert await count(db) == 0


async def test_missing_items_are_named_and_nothing_saved(client, personas, db):
    await client.login(personas.alice)
    answers = {k: v for k, v in PHQ9_MILD.items() if k not in ("q2", "q9")}
    response = await client.post_form("/questionnaires/phq9", answers)
    assert response.status_code == 422
    assert "Please answer question 2." in response.text and "Please answer question 9." in response.text
    assert 'id="crisis-card"' in response.text  # item 9 blank = unknown risk: help at once
    assert await count(db) == 0


async def test_leaving_item9_blank_on_purpose_is_stored_as_unknown_risk(client, personas, db):
    await client.login(personas.alice)
    answers = {k: v for k, v in PHQ9_MILD.items() if k != "q9"} | {"incomplete": "1"}
    response = await client.post_form("/questionnaires/phq9", answers)
    assert response.status_code == 201 and 'id="crisis-card"' in response.text
    [row] = await stored(db)
    assert row.total is None and not row.complete and row.answers["q9"] is None
    async with db.reading() as session:
        assert (await session.execute(select(Alert.rule_id))).scalars().all() == ["A8"]


async def test_unknown_instrument_is_a_clear_404(client, personas):
    await client.login(personas.alice)
    for url in ("/questionnaires/beck", "/questionnaires/phq-9"):
        response = await client.get(url)
        assert response.status_code == 404 and "no questionnaire called" in response.text
    assert (await client.post_form("/questionnaires/beck", {"q1": "1"})).status_code == 404


async def test_cssrs_is_404_unless_the_clinic_enabled_it(client, personas, db):
    await client.login(personas.alice)
    assert (await client.get("/questionnaires/cssrs")).status_code == 404
    async with db.writing() as session:
        (await session.get_one(Clinic, personas.north_id)).settings = {"cssrs_enabled": True}
    page = await client.get("/questionnaires/cssrs")
    assert page.status_code == 200 and "Have you actually had any thoughts about killing yourself?" in page.text
    answers = {"q1": "1", "q2": "1", "q3": "0", "q4": "0", "q5": "1", "q6": "0"}
    response = await client.post_form("/questionnaires/cssrs", answers | {"trigger": "checkin_active"})
    assert response.status_code == 201 and 'id="crisis-card"' in response.text
    async with db.reading() as session:
        alert = (await session.execute(select(Alert))).scalar_one()
    assert (alert.rule_id, alert.severity) == ("A1", "critical")


async def test_staff_and_anonymous_cannot_use_questionnaires(client, personas):
    assert (await client.get("/questionnaires/phq9")).status_code == 303
    await client.login(personas.carol)
    assert (await client.get("/questionnaires/phq9")).status_code == 404
