"""The questionnaire JSON API (/api/v1/questionnaires): the same validation, storage and crisis help
as the pages, for the installed app and other clients."""

from __future__ import annotations

from sqlalchemy import func, select

from companion.accounts.models import Clinic
from companion.alerts.models import Alert
from companion.questionnaires.models import QuestionnaireResponse

PHQ9_MILD = {f"q{i}": 1 for i in range(1, 9)} | {"q9": 0, "difficulty": 2}


async def count(db, model=QuestionnaireResponse) -> int:
    async with db.reading() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def test_instrument_definition_carries_wording_codes_and_skip_logic(client, personas):
    await client.login(personas.alice)
    phq9 = (await client.get("/api/v1/questionnaires/phq9")).json()
    assert phq9["version"] == "phq9-en-2024.1" and phq9["max_total"] == 27
    item9 = next(item for item in phq9["items"] if item["key"] == "q9")
    assert item9["text"].startswith("Thoughts that you would be better off dead")
    assert [o["value"] for o in item9["options"]] == [0, 1, 2, 3]
    difficulty = next(item for item in phq9["items"] if item["key"] == "difficulty")
    assert [o["loinc"] for o in difficulty["options"]][2:] == ["LA6575-0", "LA6574-3"]  # out of order, as coded
    asq = (await client.get("/api/v1/questionnaires/asq")).json()
    assert any(item["asked_when_any_of"] for item in asq["items"])  # item 5 only after a yes


async def test_a_mild_phq9_is_stored_and_replayed_by_its_key(client, personas, db):
    await client.login(personas.alice)
    first = await client.post_json("/api/v1/questionnaires/phq9", {"answers": PHQ9_MILD}, key="phq9-api-0001")
    assert first.status_code == 201
    body = first.json()
    assert (body["response"]["total"], body["response"]["band"], body["crisis"]) == (8, "mild", False)
    assert body["crisis_card"] is None and body["followup"] is None
    assert "mild range" in body["response"]["summary"]
    again = await client.post_json("/api/v1/questionnaires/phq9", {"answers": PHQ9_MILD}, key="phq9-api-0001")
    assert again.status_code == 201 and again.headers.get("idempotent-replayed") == "true"
    assert again.json()["response"]["code"] == body["response"]["code"] and await count(db) == 1
    conflict = await client.post_json(
        "/api/v1/questionnaires/phq9", {"answers": PHQ9_MILD | {"q1": 3}}, key="phq9-api-0001"
    )
    assert conflict.status_code == 409 and await count(db) == 1
    listing = (await client.get("/api/v1/questionnaires")).json()
    assert [r["code"] for r in listing["responses"]] == [body["response"]["code"]]
    assert "phq9" not in listing["due"] and "gad7" in listing["due"]
    assert "cssrs" not in listing["available"]  # off unless the clinic switches it on


async def test_item9_brings_crisis_help_the_followup_and_a_committed_alert(client, personas, db):
    await client.login(personas.alice)
    response = await client.post_json("/api/v1/questionnaires/phq9", {"answers": PHQ9_MILD | {"q9": 1}})
    assert response.status_code == 201
    body = response.json()
    assert body["crisis"] is True and body["followup"] == "asq"
    assert any(line["tel"] for line in body["crisis_card"]["lines"] if line.get("tel"))
    async with db.reading() as session:
        assert "A3" in set((await session.execute(select(Alert.rule_id))).scalars())


async def test_asq_item5_yes_is_critical(client, personas, db):
    await client.login(personas.alice)
    answers = {"q1": 1, "q2": 0, "q3": 0, "q4": 0, "q5": 1}
    response = await client.post_json("/api/v1/questionnaires/asq", {"answers": answers, "trigger": "phq9_item9"})
    assert response.status_code == 201 and response.json()["crisis"] is True
    async with db.reading() as session:
        severities = set((await session.execute(select(Alert.severity))).scalars())
    assert "critical" in severities


async def test_bad_bodies_get_clear_messages_and_nothing_is_saved(client, personas, db):
    await client.login(personas.alice)
    cases = [
        ({"answers": PHQ9_MILD | {"q1": 7}}, "answers", "out of range"),
        ({"answers": PHQ9_MILD | {"q10": 1}}, "answers", "no question called"),
        ({"answers": PHQ9_MILD | {"q2": True}}, "answers", "could not be read"),
        ({"answers": PHQ9_MILD | {"q3": "often"}}, "answers", "not one of the answers"),
        ({"answers": [1, 2, 3]}, "answers", "must be an object"),
        ({"answers": PHQ9_MILD, "extra": 1}, "body", "Unknown field"),
        ({"answers": PHQ9_MILD, "trigger": "because"}, "trigger", "must be one of"),
        ({"answers": PHQ9_MILD, "incomplete": "yes"}, "incomplete", "true or false"),
    ]
    for body, field, words in cases:
        response = await client.post_json("/api/v1/questionnaires/phq9", body)
        assert response.status_code == 422, body
        assert words in str(response.json()["errors"][field]), (body, response.json())
    unknown = await client.post_json("/api/v1/questionnaires/bdi", {"answers": {}})
    assert unknown.status_code == 404 and "no questionnaire called 'bdi'" in unknown.json()["errors"]["instrument"]
    assert (await client.post_json("/api/v1/questionnaires/cssrs", {"answers": {}})).status_code == 404
    assert await count(db) == 0 and await count(db, Alert) == 0


async def test_a_blank_safety_item_is_refused_with_help_unless_left_unfinished_on_purpose(client, personas, db):
    await client.login(personas.alice)
    answers = {key: value for key, value in PHQ9_MILD.items() if key != "q9"}
    refused = await client.post_json("/api/v1/questionnaires/phq9", {"answers": answers})
    assert refused.status_code == 422
    assert refused.json()["errors"]["missing"] == ["q9"] and refused.json()["crisis"] is True
    assert await count(db) == 0
    kept = await client.post_json("/api/v1/questionnaires/phq9", {"answers": answers, "incomplete": True})
    assert kept.status_code == 201
    body = kept.json()
    assert body["response"]["complete"] is False and body["response"]["total"] is None  # never scored as 0
    assert body["crisis"] is True  # unknown risk (A8) brings help


async def test_cssrs_is_served_where_the_clinic_switched_it_on(client, personas, db):
    async with db.writing() as session:
        clinic = await session.get_one(Clinic, personas.north_id)
        clinic.settings = {**(clinic.settings or {}), "cssrs_enabled": True}
    await client.login(personas.alice)
    assert (await client.get("/api/v1/questionnaires/cssrs")).status_code == 200
    assert "cssrs" in (await client.get("/api/v1/questionnaires")).json()["available"]


async def test_staff_and_strangers_cannot_use_it(client, personas):
    assert (await client.get("/api/v1/questionnaires")).status_code == 401
    await client.login(personas.carol)
    assert (await client.get("/api/v1/questionnaires")).status_code == 404
    assert (await client.post_json("/api/v1/questionnaires/phq9", {"answers": PHQ9_MILD})).status_code == 404
