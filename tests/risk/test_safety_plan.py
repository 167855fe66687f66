"""The safety plan: six sections in the patient's words, editable by patient and care team, versioned."""

from __future__ import annotations

from sqlalchemy import select

from companion.risk.models import SafetyPlanVersion


async def versions(db):
    async with db.reading() as session:
        return list((await session.execute(select(SafetyPlanVersion).order_by(SafetyPlanVersion.version))).scalars())


async def test_patient_and_care_team_edit_and_every_version_is_kept(client_factory, personas, db):
    async with client_factory() as alice:
        await alice.login(personas.alice)
        page = await alice.get("/safety-plan")
        assert (
            page.status_code == 200 and "My warning signs" in page.text and "Making my surroundings safer" in page.text
        )
        saved = await alice.post_form(
            "/safety-plan", {"warning_signs": "Not sleeping, pulling away", "people_to_ask": "Sam 555 0101"}
        )
        assert saved.status_code == 303 and saved.headers["location"] == "/safety-plan?saved=1"
    url = f"/clinic/patients/{personas.alice.patient_code}/safety-plan"
    async with client_factory() as carol:
        await carol.login(personas.carol)
        page = await carol.get(url)
        assert "Not sleeping, pulling away" in page.text
        edited = await carol.post_form(
            url,
            {
                "warning_signs": "Not sleeping, pulling away",
                "people_to_ask": "Sam 555 0101",
                "professionals": "Clinic +1 555 0100; 988",
            },
        )
        assert edited.status_code == 303
    rows = await versions(db)
    assert [r.version for r in rows] == [1, 2]
    assert rows[0].sections["professionals"] == "" and rows[1].sections["professionals"] == "Clinic +1 555 0100; 988"
    assert (rows[0].created_by_id, rows[1].created_by_id) == (personas.alice.user_id, personas.carol.user_id)
    async with client_factory() as alice:
        await alice.login(personas.alice)
        crisis = await alice.get("/crisis")
        assert "My safety plan" in crisis.text and "Sam 555 0101" in crisis.text


async def test_outsiders_get_404_and_bad_input_saves_nothing(client_factory, personas, db):
    url = f"/clinic/patients/{personas.alice.patient_code}/safety-plan"
    for person in (personas.dave, personas.erin, personas.ada):
        async with client_factory() as other:
            await other.login(person)
            assert (await other.get(url)).status_code == 404
            assert (await other.post_form(url, {"coping": "x"})).status_code == 404
    async with client_factory() as alice:
        await alice.login(personas.alice)
        response = await alice.post_form("/safety-plan", {"coping": "x" * 2001, "is_admin": "1"})
        assert response.status_code == 422 and "Keep this under 2000 characters" in response.text
    assert await versions(db) == []


async def test_today_lists_due_questionnaires_until_answered(client, personas):
    await client.login(personas.alice)
    today = await client.get("/today")
    assert 'href="/questionnaires/phq9"' in today.text and 'href="/questionnaires/gad7"' in today.text
    answers = {f"q{i}": "0" for i in range(1, 10)}
    assert (await client.post_form("/questionnaires/phq9", answers)).status_code == 201
    today = await client.get("/today")
    assert 'href="/questionnaires/phq9"' not in today.text and 'href="/questionnaires/gad7"' in today.text


async def test_clinician_view_of_a_safety_plan_is_audited_once(client, personas, db):
    from sqlalchemy import select

    from companion.clinic.models import AuditEvent

    await client.login(personas.carol)
    response = await client.get(f"/clinic/patients/{personas.alice.patient_code}/safety-plan")
    assert response.status_code == 200
    async with db.reading() as session:
        rows = (
            await session.execute(select(AuditEvent).where(AuditEvent.patient_id == personas.alice.patient_id))
        ).scalars().all()
    assert [(r.action, r.actor_id) for r in rows] == [("view_record", personas.carol.user_id)]
