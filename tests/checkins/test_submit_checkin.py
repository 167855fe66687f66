"""Submitting the daily check-in through the HTTP stack: happy path, amendments, bad input, idempotency."""

from __future__ import annotations

import anyio
from sqlalchemy import func, select

from companion.accounts.models import IdempotencyRecord
from companion.checkins.models import CheckIn, CheckInSideEffect

GOOD = {"mood": "6", "anxiety": "3", "energy": "5", "safety": "none", "sleep_hours": "7.5", "sleep_quality": "3"}


async def count(db, model=CheckIn):
    async with db.reading() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def test_checkin_is_saved_and_today_shows_it(client, personas, db):
    await client.login(personas.alice)
    key = await client.form_key("/checkin")
    response = await client.post_form(
        "/checkin", GOOD | {"effect_nausea": "1", "idempotency_key": key, "note": "slept well"}
    )
    assert response.status_code == 303 and response.headers["location"] == "/today?saved=checkin"
    async with db.reading() as session:
        row = (await session.execute(select(CheckIn))).scalar_one()
        effects = (await session.execute(select(CheckInSideEffect))).scalars().all()
    assert (row.mood, row.anxiety, row.energy, row.safety, row.sleep_hours, row.note) == (
        6,
        3,
        5,
        "none",
        7.5,
        "slept well",
    )
    assert [(e.effect, e.severity) for e in effects] == [("nausea", 1)]
    today = await client.get("/today?saved=checkin")
    assert "Check-in saved" in today.text and "Check-in done" in today.text


async def test_htmx_submission_gets_a_client_redirect(client, personas):
    await client.login(personas.alice)
    key = await client.form_key("/checkin")
    response = await client.post_form("/checkin", GOOD | {"idempotency_key": key}, htmx=True)
    assert response.status_code == 200 and response.headers["hx-redirect"] == "/today?saved=checkin"


async def test_second_checkin_same_day_amends_and_keeps_history(client, personas, db):
    await client.login(personas.alice)
    for mood in ("4", "7"):
        key = await client.form_key("/checkin")
        assert (await client.post_form("/checkin", GOOD | {"mood": mood, "idempotency_key": key})).status_code == 303
    async with db.reading() as session:
        rows = (await session.execute(select(CheckIn).order_by(CheckIn.revision))).scalars().all()
    assert [(r.revision, r.mood) for r in rows] == [(1, 4), (2, 7)]
    assert rows[1].supersedes_id == rows[0].id and rows[0].local_date == rows[1].local_date
    form = await client.get("/checkin")
    assert "You already checked in today" in form.text


async def test_out_of_range_values_come_back_with_messages_and_save_nothing(client, personas, db):
    await client.login(personas.alice)
    key = await client.form_key("/checkin")
    bad = GOOD | {"mood": "11", "energy": "abc", "sleep_hours": "25", "bp_systolic": "120", "idempotency_key": key}
    response = await client.post_form("/checkin", bad)
    assert response.status_code == 422
    assert "Enter a number from 0 to 10" in response.text
    assert "Enter a whole number from 0 to 10" in response.text
    assert "Enter both numbers of your blood pressure" in response.text
    assert 'aria-invalid="true"' in response.text
    assert await count(db) == 0


async def test_missing_answers_are_named(client, personas, db):
    await client.login(personas.alice)
    response = await client.post_form("/checkin", {"mood": "5"}, htmx=True)
    assert response.status_code == 422
    assert 'id="checkin-form"' in response.text and "<html" not in response.text  # the fragment only
    assert "Please choose an answer to this question" in response.text
    assert await count(db) == 0


async def test_duplicated_and_unknown_fields_are_refused(client, personas, db):
    await client.login(personas.alice)
    response = await client.post_form("/checkin", list(GOOD.items()) + [("mood", "1"), ("is_admin", "1")])
    assert response.status_code == 422
    assert "sent more than once" in response.text and "not part of the form" in response.text
    assert await count(db) == 0


async def test_oversized_body_is_refused(client, personas, db):
    await client.login(personas.alice)
    response = await client.post_form("/checkin", GOOD | {"note": "x" * 200_000})
    assert response.status_code == 413
    assert await count(db) == 0


async def test_note_too_long_is_explained(client, personas, db):
    await client.login(personas.alice)
    response = await client.post_form("/checkin", GOOD | {"note": "x" * 2001})
    assert response.status_code == 422 and "Keep this under 2000 characters" in response.text
    assert await count(db) == 0


async def test_form_replay_stores_once(client, personas, db):
    await client.login(personas.alice)
    key = await client.form_key("/checkin")
    for _ in range(3):
        assert (await client.post_form("/checkin", GOOD | {"idempotency_key": key})).status_code == 303
    assert await count(db) == 1
    assert await count(db, IdempotencyRecord) == 1


async def test_api_replay_returns_the_same_result(client, personas, db):
    await client.login(personas.alice)
    body = {"mood": 6, "anxiety": 3, "energy": 5, "safety": "none", "side_effects": {"headache": 2}}
    first = await client.post_json("/api/v1/checkins", body, key="api-key-0001")
    second = await client.post_json("/api/v1/checkins", body, key="api-key-0001")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers.get("idempotent-replayed") == "true"
    assert first.json()["checkin"]["side_effects"] == {"headache": 2}
    assert await count(db) == 1


async def test_same_key_different_body_is_refused(client, personas, db):
    await client.login(personas.alice)
    body = {"mood": 6, "anxiety": 3, "energy": 5, "safety": "none"}
    assert (await client.post_json("/api/v1/checkins", body, key="api-key-0002")).status_code == 201
    conflict = await client.post_json("/api/v1/checkins", body | {"mood": 2}, key="api-key-0002")
    assert conflict.status_code == 409 and "different request" in conflict.json()["error"]
    assert await count(db) == 1


async def test_ten_concurrent_requests_with_one_key_store_one_row(client_factory, personas, db):
    body = {"mood": 5, "anxiety": 5, "energy": 5, "safety": "none"}
    results: list[tuple[int, dict]] = []
    async with client_factory() as c1, client_factory() as c2:
        await c1.login(personas.alice)
        await c2.login(personas.alice)

        async def send(c):
            response = await c.post_json("/api/v1/checkins", body, key="concurrent-key-1")
            results.append((response.status_code, response.json()))

        async with anyio.create_task_group() as group:
            for index in range(10):
                group.start_soon(send, (c1, c2)[index % 2])
    assert [status for status, _ in results] == [201] * 10
    assert len({str(payload["checkin"]) for _, payload in results}) == 1
    assert await count(db) == 1


async def test_api_validation_errors_are_json(client, personas, db):
    await client.login(personas.alice)
    response = await client.post_json("/api/v1/checkins", {"mood": 99, "anxiety": "x", "safety": "maybe", "extra": 1})
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert {"mood", "anxiety", "energy", "safety", "extra"} <= set(errors)
    malformed = await client.http.post(
        "/api/v1/checkins",
        content=b"{not json",
        headers={"x-csrftoken": await client.csrf_token(), "content-type": "application/json"},
    )
    assert malformed.status_code == 400 and "error" in malformed.json()
    assert await count(db) == 0


async def test_api_lists_only_my_checkins(client_factory, personas):
    async with client_factory() as alice, client_factory() as bob:
        await alice.login(personas.alice)
        await bob.login(personas.bob)
        await alice.post_json("/api/v1/checkins", {"mood": 6, "anxiety": 3, "energy": 5, "safety": "none"})
        assert len((await alice.get("/api/v1/checkins")).json()["checkins"]) == 1
        assert (await bob.get("/api/v1/checkins")).json()["checkins"] == []


async def test_checkin_requires_login_and_a_patient(client_factory, personas):
    async with client_factory() as anonymous, client_factory() as carol:
        page = await anonymous.get("/checkin")
        assert page.status_code == 303 and page.headers["location"] == "/login?next=/checkin"
        assert (await anonymous.post_form("/checkin", GOOD)).status_code == 303
        assert (await anonymous.post_json("/api/v1/checkins", {"mood": 1})).status_code == 401
        await carol.login(personas.carol)
        assert (await carol.get("/checkin")).status_code == 404
        assert (await carol.post_form("/checkin", GOOD)).status_code == 404
