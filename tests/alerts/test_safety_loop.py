"""End to end over HTTP with the personas: check-in -> crisis help + ASQ -> Critical alert ->
carol acknowledges -> alice's Today shows it was seen. Outsiders get 404."""

from __future__ import annotations

import re

from sqlalchemy import select

from companion.alerts.models import Alert, AlertEvent, HelpPress
from companion.checkins.models import CheckIn
from companion.notify.models import OutboxMessage
from companion.questionnaires.models import QuestionnaireResponse

CHECKIN = {"mood": "2", "anxiety": "8", "energy": "2", "safety": "active"}
ASQ_ACUTE = {"q1": "1", "q2": "1", "q3": "1", "q4": "0", "q5": "1"}


async def all_rows(db, model):
    async with db.reading() as session:
        return list((await session.execute(select(model).order_by(model.id))).scalars())


async def test_the_whole_safety_loop(client_factory, personas, db):
    async with client_factory() as alice:
        await alice.login(personas.alice)
        key = await alice.form_key("/checkin")
        response = await alice.post_form("/checkin", CHECKIN | {"idempotency_key": key})
        # The help is in the response itself: a page, not a redirect.
        assert response.status_code == 200
        assert (
            'id="crisis-card"' in response.text
            and 'href="tel:911"' in response.text
            and 'href="tel:988"' in response.text
        )
        assert 'href="/questionnaires/asq?trigger=checkin_active"' in response.text
        assert "Your check-in is saved" in response.text
        assert "no-store" in response.headers["cache-control"] and "content-security-policy" in response.headers

        asq = await alice.get("/questionnaires/asq?trigger=checkin_active")
        assert "Are you having thoughts of killing yourself right now?" in asq.text
        key = re.search(r'name="idempotency_key" value="([^"]+)"', asq.text).group(1)
        answered = await alice.post_form(
            "/questionnaires/asq", ASQ_ACUTE | {"trigger": "checkin_active", "idempotency_key": key}
        )
        assert answered.status_code == 201
        assert 'id="crisis-card"' in answered.text and "call 911 now" in answered.text.lower()

    [checkin] = await all_rows(db, CheckIn)
    [response_row] = await all_rows(db, QuestionnaireResponse)
    alerts = {a.rule_id: a for a in await all_rows(db, Alert)}
    assert set(alerts) == {"A5", "A1"}
    critical = alerts["A1"]
    assert (critical.severity, critical.source_kind, critical.source_code) == (
        "critical",
        "questionnaire",
        response_row.code,
    )
    assert alerts["A5"].source_code == checkin.code and response_row.trigger == "checkin_active"
    # One per alert and channel for carol, alice's only clinician: push, and e-mail (on for staff).
    outbox = await all_rows(db, OutboxMessage)
    assert sorted((m.alert_id, m.channel, m.recipient_id) for m in outbox) == sorted(
        (alert.id, channel, personas.carol.user_id) for alert in alerts.values() for channel in ("push", "email")
    )

    async with client_factory() as carol:
        await carol.login(personas.carol)
        inbox = await carol.get("/clinic/alerts")
        assert inbox.status_code == 200
        assert inbox.text.index(f"alert-{critical.code}") < inbox.text.index(
            f"alert-{alerts['A5'].code}"
        )  # critical first
        detail = await carol.get(f"/clinic/alerts/{critical.code}")
        assert detail.status_code == 200 and "Alice Patient" in detail.text and "Mood, last 14 days" in detail.text
        acknowledged = await carol.post_form(f"/clinic/alerts/{critical.code}/acknowledge", {}, htmx=True)
        assert acknowledged.status_code == 200 and acknowledged.headers["hx-trigger"] == "alert-changed"
        assert f'id="alert-{critical.code}"' in acknowledged.text and "<html" not in acknowledged.text
        assert "seen by Carol Clinician" in acknowledged.text

    for outsider in (personas.dave, personas.erin, personas.ada):
        async with client_factory() as other:
            await other.login(outsider)
            assert (await other.get(f"/clinic/alerts/{critical.code}")).status_code == 404, outsider.login
            assert (await other.post_form(f"/clinic/alerts/{critical.code}/acknowledge", {})).status_code == 404
            assert (
                await other.post_form(f"/clinic/alerts/{critical.code}/resolve", {"outcome": "no_action_needed"})
            ).status_code == 404
            if outsider is not personas.ada:
                assert critical.code not in (await other.get("/clinic/alerts")).text

    async with client_factory() as alice:
        await alice.login(personas.alice)
        today = await alice.get("/today")
        assert "Your care team saw this at" in today.text
        assert (await alice.get(f"/clinic/alerts/{critical.code}")).status_code == 404


async def test_acknowledge_resolve_reopen_without_htmx(client, personas, db):
    await client.login(personas.alice)
    await client.post_form("/checkin", CHECKIN)
    [alert] = await all_rows(db, Alert)
    await client.post_form("/logout", {})
    await client.login(personas.carol)
    url = f"/clinic/alerts/{alert.code}"
    ack = await client.post_form(f"{url}/acknowledge", {})
    assert ack.status_code == 303 and ack.headers["location"] == url
    bad = await client.post_form(f"{url}/resolve", {"outcome": "made_tea"})
    assert bad.status_code == 422
    done = await client.post_form(
        f"{url}/resolve", {"outcome": "contacted_patient", "note": "Called, safe, seeing her Tuesday."}
    )
    assert done.status_code == 303
    again = await client.post_form(f"{url}/resolve", {"outcome": "contacted_patient"})
    assert again.status_code == 409
    reopened = await client.post_form(f"{url}/reopen", {}, htmx=True)
    assert reopened.status_code == 200 and "Acknowledge" in reopened.text
    [alert] = await all_rows(db, Alert)
    assert alert.status == "open" and alert.outcome is None
    kinds = [e.kind for e in await all_rows(db, AlertEvent)]
    assert kinds == ["created", "acknowledged", "resolved", "reopened"]
    resolved = [e for e in await all_rows(db, AlertEvent) if e.kind == "resolved"][0]
    assert resolved.actor_id == personas.carol.user_id
    page = await client.get(url)
    assert "Called, safe, seeing her Tuesday." in page.text or "contacted" in page.text.lower()


async def test_open_alerts_are_sorted_and_overdue_marked(client, personas, db):
    from datetime import timedelta

    from companion.db import utcnow

    await client.login(personas.alice)
    await client.post_form("/checkin", CHECKIN | {"safety": "passive"})  # A5b Medium
    await client.post_form("/help-now", {})  # A7 Critical
    async with db.writing() as session:
        medium = (await session.execute(select(Alert).where(Alert.rule_id == "A5b"))).scalar_one()
        medium.response_due_at = utcnow() - timedelta(hours=1)
    await client.post_form("/logout", {})
    await client.login(personas.carol)
    page = await client.get("/clinic/alerts")
    [a7] = [a for a in await all_rows(db, Alert) if a.rule_id == "A7"]
    assert page.text.index(f"alert-{a7.code}") < page.text.index(f"alert-{medium.code}")
    assert "Overdue" in page.text
    filtered = await client.get("/clinic/alerts?severity=critical")
    assert a7.code in filtered.text and medium.code not in filtered.text


async def test_help_now_shows_the_card_and_raises_a7(client, personas, db):
    await client.login(personas.alice)
    response = await client.post_form("/help-now", {})
    assert response.status_code == 200 and 'id="crisis-card"' in response.text
    assert "Your care team has been told" in response.text
    [press] = await all_rows(db, HelpPress)
    [alert] = await all_rows(db, Alert)
    assert (alert.rule_id, alert.severity, alert.source_code) == ("A7", "critical", press.code)
    await client.post_form("/logout", {})
    await client.login(personas.carol)
    assert (await client.post_form("/help-now", {})).status_code == 404


async def test_the_api_returns_crisis_help_and_lets_clinicians_work_alerts(client_factory, personas, db):
    async with client_factory() as alice:
        await alice.login(personas.alice)
        response = await alice.post_json(
            "/api/v1/checkins", CHECKIN | {"mood": 2, "anxiety": 8, "energy": 2}, key="api-key-risky-1"
        )
        assert response.status_code == 201
        body = response.json()
        assert body["crisis"] is True
        card = body["crisis_card"]
        assert card["emergency"]["number"] == "911" and any(line["tel"] == "tel:988" for line in card["lines"])
        assert card["followup"]["url"] == "/questionnaires/asq?trigger=checkin_active"
        replay = await alice.post_json(
            "/api/v1/checkins", CHECKIN | {"mood": 2, "anxiety": 8, "energy": 2}, key="api-key-risky-1"
        )
        assert replay.headers.get("idempotent-replayed") == "true" and replay.json()["crisis"] is True
        calm = await alice.post_json("/api/v1/checkins", {"mood": 7, "anxiety": 2, "energy": 6, "safety": "none"})
        assert calm.json()["crisis"] is False
        assert (await alice.get("/api/v1/alerts")).status_code == 404
    [alert] = await all_rows(db, Alert)
    async with client_factory() as carol:
        await carol.login(personas.carol)
        listed = (await carol.get("/api/v1/alerts")).json()["alerts"]
        assert [a["code"] for a in listed] == [alert.code] and listed[0]["severity"] == "high"
        ack = await carol.post_json(f"/api/v1/alerts/{alert.code}/acknowledge", {})
        assert ack.status_code == 200 and ack.json()["alert"]["status"] == "acknowledged"
        bad = await carol.post_json(f"/api/v1/alerts/{alert.code}/resolve", {"outcome": "shrug"})
        assert bad.status_code == 422
        done = await carol.post_json(
            f"/api/v1/alerts/{alert.code}/resolve", {"outcome": "visit_scheduled", "note": "Thursday"}
        )
        assert done.status_code == 200 and done.json()["alert"]["outcome"] == "visit_scheduled"
    async with client_factory() as dave:
        await dave.login(personas.dave)
        assert (await dave.get("/api/v1/alerts")).json()["alerts"] == []
        assert (await dave.post_json(f"/api/v1/alerts/{alert.code}/acknowledge", {})).status_code == 404


async def test_journal_private_match_shows_help_and_shared_alerts(client, personas, db):
    await client.login(personas.alice)
    private = await client.post_form("/journal", {"body": "Some nights I want to die.", "visibility": "private"})
    assert private.status_code == 200 and 'id="crisis-card"' in private.text
    assert "/questionnaires/asq?trigger=private_text" in private.text
    assert await all_rows(db, Alert) == []
    calm = await client.post_form("/journal", {"body": "A good walk today.", "visibility": "shared"})
    assert calm.status_code == 303


async def test_crisis_page_is_public_and_honest(client, personas):
    page = await client.get("/crisis")
    assert page.status_code == 200 and 'href="tel:911"' in page.text and 'href="tel:988"' in page.text
    assert (
        "does not watch entries" in page.text
        or "nobody is watching" in page.text
        or "reviewing entries now" in page.text
    )
    uk = await client.get("/crisis?region=UK")
    assert 'href="tel:999"' in uk.text and 'href="tel:116123"' in uk.text
    await client.login(personas.alice)
    mine = await client.get("/crisis")
    assert "North Clinic" in mine.text and "Your clinic reviews entries Mon–Fri 9:00–17:00" in mine.text
    assert 'action="/help-now"' in mine.text


async def test_risky_reflection_and_htmx_checkin_get_the_card(client, personas, db):
    from datetime import timedelta

    from companion.db import utcnow
    from tests.factories import make_session

    treatment = await make_session(db, personas.alice, at=utcnow() - timedelta(hours=5), status="attended")
    await client.login(personas.alice)
    url = f"/sessions/{treatment.code}/reflection"
    response = await client.post_form(
        url, {"feeling": "2", "body": "I keep thinking about ending my life", "visibility": "shared"}
    )
    assert response.status_code == 200 and 'id="crisis-card"' in response.text
    assert "/questionnaires/asq?trigger=shared_text" in response.text
    [alert] = await all_rows(db, Alert)
    assert (alert.rule_id, alert.source_kind, alert.source_code) == ("A6", "reflection", alert.source_code)
    assert "ending my life" not in alert.reason  # never quotes the patient
    fragment = await client.post_form("/checkin", CHECKIN, htmx=True)
    assert fragment.status_code == 200 and 'id="saved-with-help"' in fragment.text and "<html" not in fragment.text
    assert "hx-redirect" not in fragment.headers


async def test_journal_api_returns_the_card(client, personas):
    await client.login(personas.alice)
    response = await client.post_json(
        "/api/v1/journal-entries", {"body": "I want to kill myself", "visibility": "private"}
    )
    body = response.json()
    assert response.status_code == 201 and body["crisis"] is True
    assert body["crisis_card"]["followup"]["url"] == "/questionnaires/asq?trigger=private_text"


async def test_alert_reads_and_actions_are_audited(client, personas, db):
    from companion.clinic.audit import verify_chain
    from companion.clinic.models import AuditEvent

    await client.login(personas.alice)
    await client.post_form("/checkin", CHECKIN)
    [alert] = await all_rows(db, Alert)
    await client.post_form("/logout", {})
    await client.login(personas.carol)
    await client.get("/clinic/alerts")
    await client.get(f"/clinic/alerts/{alert.code}")
    await client.post_form(f"/clinic/alerts/{alert.code}/acknowledge", {})
    rows = [(e.action, e.patient_id) for e in await all_rows(db, AuditEvent)]
    assert ("view_alert_feed", None) in rows
    assert ("view_alert", personas.alice.patient_id) in rows and ("alert_action", personas.alice.patient_id) in rows
    events = await all_rows(db, AuditEvent)
    assert all("active" not in e.what and "thoughts" not in e.what for e in events)  # no clinical content
    async with db.reading() as session:
        assert (await verify_chain(session, personas.north_id)).ok
