"""Logging in and out: fixation, server-side revocation, expiry, throttling, remember-me."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from sqlalchemy import func, select

from companion.accounts.auth import hash_token
from companion.accounts.models import WebSession
from companion.db import utcnow

SESSION_COOKIE = "companion_session"


async def test_patient_logs_in_and_lands_on_today(client, personas):
    response = await client.login(personas.alice)
    assert response.headers["location"] == "/today"
    page = await client.get("/today")
    assert page.status_code == 200
    assert "Get help now" in page.text


async def test_staff_land_on_clinic(client, personas):
    response = await client.login(personas.carol)
    assert response.headers["location"] == "/clinic"


async def test_wrong_password_is_refused_without_saying_which_part(client, personas):
    response = await client.post_form("/login", {"login": personas.alice.login, "password": "not it at all"})
    assert response.status_code == 401
    assert "do not match" in response.text
    unknown = await client.post_form("/login", {"login": "nobody@example.org", "password": "not it at all"})
    assert unknown.status_code == 401
    assert "do not match" in unknown.text


async def test_planted_session_id_is_not_authenticated_after_login(client, personas, db):
    """SESS-02: a cookie value chosen before login never becomes the logged-in session."""
    planted = "attacker-chosen-value-0123456789"
    client.set_cookie(SESSION_COOKIE, planted)
    await client.login(personas.alice)
    issued = client.cookies.get(SESSION_COOKIE)
    assert issued and issued != planted
    async with db.reading() as session:
        planted_rows = await session.scalar(select(func.count()).where(WebSession.token_hash == hash_token(planted)))
    assert planted_rows == 0
    client.set_cookie(SESSION_COOKIE, planted)
    assert (await client.get("/today")).status_code == 303


async def test_new_session_id_at_each_login(client, personas):
    await client.login(personas.alice)
    first = client.cookies.get(SESSION_COOKIE)
    await client.login(personas.alice)
    second = client.cookies.get(SESSION_COOKIE)
    assert first != second


async def test_logout_revokes_session_server_side(client, personas, db):
    await client.login(personas.alice)
    token = client.cookies.get(SESSION_COOKIE)
    response = await client.post_form("/logout", {})
    assert response.status_code == 303
    assert "storage" in response.headers["clear-site-data"]
    async with db.reading() as session:
        assert await session.scalar(select(func.count()).where(WebSession.token_hash == hash_token(token))) == 0
    client.set_cookie(SESSION_COOKIE, token)  # replaying the old cookie gets the login page
    replay = await client.get("/today")
    assert replay.status_code == 303 and replay.headers["location"].startswith("/login")


async def test_staff_idle_timeout(client, personas):
    await client.login(personas.carol)
    assert (await client.get("/clinic")).status_code == 200
    with time_machine.travel(utcnow() + timedelta(minutes=31), tick=True):
        response = await client.get("/clinic")
    assert response.status_code == 303


async def test_staff_absolute_timeout_despite_activity(client, personas):
    await client.login(personas.carol)
    start = utcnow()
    for minutes in range(25, 12 * 60, 25):
        with time_machine.travel(start + timedelta(minutes=minutes), tick=True):
            assert (await client.get("/clinic")).status_code == 200, f"active at +{minutes} min"
    with time_machine.travel(start + timedelta(hours=12, minutes=1), tick=True):
        assert (await client.get("/clinic")).status_code == 303


async def test_patient_session_lasts_12_hours_unless_remembered(client_factory, personas):
    start = utcnow()
    async with client_factory() as plain, client_factory() as remembered:
        await plain.login(personas.alice)
        await remembered.login(personas.alice, remember=True)
        with time_machine.travel(start + timedelta(hours=11), tick=True):
            assert (await plain.get("/today")).status_code == 200
        with time_machine.travel(start + timedelta(hours=12, minutes=1), tick=True):
            assert (await plain.get("/today")).status_code == 303
            assert (await remembered.get("/today")).status_code == 200
        with time_machine.travel(start + timedelta(days=30, minutes=1), tick=True):
            assert (await remembered.get("/today")).status_code == 303


async def test_session_cookie_attributes(client, personas):
    response = await client.login(personas.alice)
    cookie = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax") and "Path=/" in cookie


async def test_login_throttle_delays_and_then_lets_the_owner_in(client, personas):
    wrong = {"login": personas.alice.login, "password": "wrong guess"}
    for _ in range(5):
        assert (await client.post_form("/login", wrong)).status_code == 401
    blocked = await client.post_form("/login", {"login": personas.alice.login, "password": "a calm lake at dawn"})
    assert blocked.status_code == 429 and "wait" in blocked.text  # even the right password waits
    with time_machine.travel(utcnow() + timedelta(seconds=61), tick=True):
        assert (
            await client.post_form("/login", {"login": personas.alice.login, "password": "a calm lake at dawn"})
        ).status_code == 303


def test_delays_grow_and_are_capped():
    from companion.accounts.throttle import POLICIES, delay_after

    account = POLICIES["account"]
    delays = [delay_after(n, account) for n in range(0, 15)]
    assert delays[:5] == [0, 0, 0, 0, 0]
    assert delays[5:9] == [1, 2, 4, 8]
    assert max(delays) == 60 and delays == sorted(delays)


async def test_open_redirect_is_refused(client, personas):
    response = await client.post_form(
        "/login", {"login": personas.alice.login, "password": "a calm lake at dawn", "next": "//evil.example/x"}
    )
    assert response.headers["location"] == "/today"


async def test_deactivated_user_loses_session_at_once(client, personas, db):
    from sqlalchemy import update

    from companion.accounts.models import User

    await client.login(personas.carol)
    async with db.writing() as session:
        await session.execute(update(User).where(User.id == personas.carol.user_id).values(active=False))
    assert (await client.get("/clinic")).status_code == 303
