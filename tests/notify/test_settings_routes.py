"""/settings and /api/v1/push-subscriptions: patients and clinicians manage their own devices only."""

from __future__ import annotations

from datetime import time

from sqlalchemy import select

from companion.notify.delivery_models import NotificationPreference, PushSubscription
from companion.notify.models import OutboxMessage
from companion.reminders.models import ReminderSchedule
from tests.notify.helpers import all_rows

SUB = {"endpoint": "https://push.example.org/abc", "keys": {"p256dh": "B" + "a" * 86, "auth": "c" * 22}}


async def test_subscribe_list_and_unsubscribe_over_the_api(client, personas, db):
    await client.login(personas.alice)
    created = await client.post_json("/api/v1/push-subscriptions", {"subscription": SUB, "label": "Phone"})
    assert created.status_code == 201
    listed = (await client.get("/api/v1/push-subscriptions")).json()
    assert [s["label"] for s in listed["subscriptions"]] == ["Phone"]
    # Embedded (SQLite) generates its key; PostgreSQL installs must configure one (none here).
    assert bool(listed["application_server_key"]) == (db.dialect == "sqlite")
    # Re-subscribing the same endpoint updates it; a renewed subscription replaces the old one.
    renewed = {"endpoint": "https://push.example.org/new", "keys": SUB["keys"]}
    assert (
        await client.post_json("/api/v1/push-subscriptions", {"subscription": renewed, "old_endpoint": SUB["endpoint"]})
    ).status_code == 201
    rows = await all_rows(db, PushSubscription)
    assert [(r.endpoint.rsplit("/", 1)[1], r.disabled_at is None) for r in rows] == [("abc", False), ("new", True)]
    token = await client.csrf_token()
    gone = await client.http.delete(
        "/api/v1/push-subscriptions", params={"endpoint": renewed["endpoint"]}, headers={"x-csrftoken": token}
    )
    assert gone.status_code == 204
    assert all(r.disabled_at is not None for r in await all_rows(db, PushSubscription))


async def test_bad_subscriptions_are_refused(client, personas):
    await client.login(personas.carol)
    for body in (
        {"subscription": {"endpoint": "ftp://x", "keys": SUB["keys"]}},
        {"subscription": {"endpoint": SUB["endpoint"], "keys": {"p256dh": "<script>", "auth": "x"}}},
        {"subscription": "nope"},
    ):
        assert (await client.post_json("/api/v1/push-subscriptions", body)).status_code == 422


async def test_api_needs_login_and_csrf(client, personas):
    assert (await client.get("/api/v1/push-subscriptions")).status_code in (401, 303)
    await client.login(personas.alice)
    refused = await client.http.post("/api/v1/push-subscriptions", json={"subscription": SUB})
    assert refused.status_code == 403


async def test_other_users_device_is_not_found(client_factory, personas, db):
    async with client_factory() as alice:
        await alice.login(personas.alice)
        await alice.post_json("/api/v1/push-subscriptions", {"subscription": SUB})
    [row] = await all_rows(db, PushSubscription)
    async with client_factory() as bob:
        await bob.login(personas.bob)
        assert (await bob.post_form(f"/settings/devices/{row.code}/remove", {})).status_code == 404
        token = await bob.csrf_token()
        gone = await bob.http.delete(
            "/api/v1/push-subscriptions", params={"endpoint": SUB["endpoint"]}, headers={"x-csrftoken": token}
        )
        assert gone.status_code == 404
        page = await bob.get("/settings")
        assert row.code not in page.text
    assert (await all_rows(db, PushSubscription))[0].disabled_at is None


async def test_patient_settings_page_saves_reminders(client, personas, db):
    await client.login(personas.alice)
    page = await client.get("/settings")
    assert page.status_code == 200 and "Daily reminder time" in page.text and "Send me a test" in page.text
    saved = await client.post_form(
        "/settings/reminders",
        [
            ("reminder_time", "08:15"),
            ("quiet_start", "22:00"),
            ("quiet_end", "07:00"),
            ("paused_until", ""),
            ("kind", "checkin"),
            ("kind", "journal"),
            ("email_fallback", "1"),
        ],
    )
    assert saved.status_code == 303
    rows = {r.kind: r for r in await all_rows(db, ReminderSchedule) if r.patient_id == personas.alice.patient_id}
    assert rows["checkin"].local_time == time(8, 15) and rows["checkin"].quiet_start == time(22, 0)
    assert {k for k, r in rows.items() if r.enabled} == {"checkin", "journal"}
    [pref] = await all_rows(db, NotificationPreference)
    assert pref.email_enabled
    bad = await client.post_form("/settings/reminders", {"reminder_time": "25:99", "quiet_start": "22:00"})
    assert bad.status_code == 422 and "Enter a time like 19:30." in bad.text


async def test_test_send_and_clinician_channels(client, personas, db):
    await client.login(personas.carol)
    page = await client.get("/settings")
    assert page.status_code == 200 and "How you receive alerts" in page.text
    assert (await client.post_form("/settings/notifications", {"push": "1"})).status_code == 303
    assert (await client.post_form("/settings/test", {})).status_code == 303
    [message] = await all_rows(db, OutboxMessage)
    assert (message.kind, message.recipient_id) == ("test", personas.carol.user_id)
    async with db.reading() as session:
        pref = (await session.execute(select(NotificationPreference))).scalar_one()
    assert pref.push_enabled and not pref.email_enabled


async def test_settings_need_login(client):
    response = await client.get("/settings")
    assert response.status_code in (303, 401)
    assert (await client.post_form("/settings/test", {})).status_code in (303, 401, 403)


async def test_staff_can_see_who_has_no_working_push(db, personas, client):
    from companion.notify.service import without_working_push

    await client.login(personas.alice)
    await client.post_json("/api/v1/push-subscriptions", {"subscription": SUB})
    async with db.reading() as session:
        assert await without_working_push(session, [personas.alice.user_id, personas.bob.user_id]) == {
            personas.bob.user_id
        }
