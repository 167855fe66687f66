"""Journal entries (private or shared), post-session reflections and the History timeline."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from companion.db import utcnow
from companion.journal.models import JournalEntry
from companion.treatments.models import SessionReflection
from tests.factories import make_session


async def test_journal_entry_private_by_choice(client, personas, db):
    await client.login(personas.alice)
    key = await client.form_key("/journal")
    response = await client.post_form(
        "/journal", {"body": "A calm morning.", "visibility": "private", "idempotency_key": key}
    )
    assert response.status_code == 303
    key = await client.form_key("/journal")
    await client.post_form("/journal", {"body": "Shared thought.", "visibility": "shared", "idempotency_key": key})
    async with db.reading() as session:
        rows = (await session.execute(select(JournalEntry).order_by(JournalEntry.id))).scalars().all()
    assert [(r.body, r.shared) for r in rows] == [("A calm morning.", False), ("Shared thought.", True)]
    page = await client.get("/journal")
    assert "A calm morning." in page.text and "Private" in page.text and "Shared with your care team" in page.text


async def test_journal_needs_text_and_a_choice(client, personas, db):
    await client.login(personas.alice)
    response = await client.post_form("/journal", {"body": " ", "prompt_key": "nonsense"})
    assert response.status_code == 422
    assert "what you want to write" in response.text and "who can read this entry" in response.text
    async with db.reading() as session:
        assert (await session.execute(select(JournalEntry))).first() is None


async def test_prompt_offered_the_evening_after_a_session(client, personas, db):
    await make_session(db, personas.alice, at=utcnow() - timedelta(minutes=30), status="attended")
    await client.login(personas.alice)
    today = await client.get("/today")
    assert "Journal prompt" in today.text and "What stands out from the session?" in today.text
    assert "Reflect on your session" in today.text


async def test_reflection_after_a_session(client, personas, db):
    treatment = await make_session(db, personas.alice, at=utcnow() - timedelta(hours=2), status="attended")
    await client.login(personas.alice)
    url = f"/sessions/{treatment.code}/reflection"
    page = await client.get(url)
    assert page.status_code == 200 and "No driving until tomorrow" in page.text
    key = await client.form_key(url)
    response = await client.post_form(
        url, {"feeling": "7", "body": "Felt light.", "visibility": "shared", "idempotency_key": key}
    )
    assert response.status_code == 303
    async with db.reading() as session:
        row = (await session.execute(select(SessionReflection))).scalar_one()
    assert (row.feeling, row.body, row.shared, row.treatment_session_id) == (7, "Felt light.", True, treatment.id)
    sessions = await client.get("/sessions")
    assert "Reflection written" in sessions.text


async def test_no_reflection_for_a_future_session(client, personas, db):
    treatment = await make_session(db, personas.alice, at=utcnow() + timedelta(days=1))
    await client.login(personas.alice)
    assert (await client.get(f"/sessions/{treatment.code}/reflection")).status_code == 404


async def test_sessions_page_shows_prep_for_upcoming(client, personas, db):
    await make_session(db, personas.alice, at=utcnow() + timedelta(days=1))
    await client.login(personas.alice)
    page = await client.get("/sessions")
    assert "No food for 2 hours before" in page.text and "Arrange a ride home" in page.text


async def test_history_lists_everything_newest_first_and_pages(client, personas, db):
    await client.login(personas.alice)
    for index in range(25):
        key = await client.form_key("/journal")
        await client.post_form(
            "/journal", {"body": f"entry number {index:02d}", "visibility": "private", "idempotency_key": key}
        )
    key = await client.form_key("/checkin")
    await client.post_form(
        "/checkin", {"mood": "6", "anxiety": "2", "energy": "4", "safety": "none", "idempotency_key": key}
    )
    first = await client.get("/history")
    assert first.text.index("Check-in") < first.text.index("entry number 24") < first.text.index("entry number 20")
    assert "entry number 04" not in first.text and "Older entries" in first.text
    older_link = first.text.split('href="/history?before=')[1].split('"')[0]
    second = await client.get(f"/history?before={older_link}", headers={"HX-Request": "true"})
    assert "entry number 04" in second.text and "<html" not in second.text
    assert "entry number 24" not in second.text


async def test_history_ignores_a_malformed_cursor(client, personas):
    await client.login(personas.alice)
    assert (await client.get("/history?before=yesterday")).status_code == 200
