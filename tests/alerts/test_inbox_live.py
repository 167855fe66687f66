"""The clinician inbox over HTTP: an alert nobody could be told about is marked as such (issue 4),
and the list picks up new alerts by polling its own address (issue 3 item 9 / issue 5 item 1)."""

from __future__ import annotations

import html
import re
from types import SimpleNamespace

from sqlalchemy import event

from companion.alerts.help import press_help
from companion.alerts.models import Alert
from companion.checkins.forms import CheckInInput
from companion.checkins.service import record_checkin
from companion.notify.service import set_preferences
from tests.factories import make_patient
from tests.notify.helpers import Clock, all_rows, as_user, close, make_sender, wired

MARKER = "No notification reached anyone — call the patient's care team."
POLL = re.compile(r'<section id="alert-list"[^>]*hx-get="([^"]+)" hx-trigger="every (\d+)s" hx-swap="outerHTML"')


async def _alert_statements(app, client, url: str) -> int:
    engine = app.state.db.engine.sync_engine
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        response = await client.get(url)
        assert response.status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    # The app's background audit copier shares the engine: count only what reads alerts.
    return len([s for s in seen if re.search(r"\b(alert|alert_event|outbox_message)\b", s)])


async def _alert_nobody_could_be_told(db, settings, personas) -> Alert:
    """Alice presses "I need help now" while carol has no device and e-mail off; the sender runs,
    so every notification about the alert has failed."""
    await set_preferences(db, as_user(personas.carol), push=True, email=False)
    await press_help(db, as_user(personas.alice))
    [alert] = await all_rows(db, Alert)
    sender = make_sender(db, wired(settings), Clock())
    try:
        await sender.drain()
    finally:
        await close(sender)
    return alert


async def test_an_alert_no_notification_reached_is_marked_on_the_inbox_and_detail(client, app, db, settings, personas):
    undelivered = await _alert_nobody_could_be_told(db, settings, personas)
    await client.login(personas.carol)
    inbox = await client.get("/clinic/alerts")
    assert inbox.status_code == 200
    text = html.unescape(inbox.text)
    assert MARKER in text and "Not delivered" in text
    detail = html.unescape((await client.get(f"/clinic/alerts/{undelivered.code}")).text)
    assert MARKER in detail and "delivery failed" in detail  # the marker and the event in the history
    [listed] = (await client.get("/api/v1/alerts")).json()["alerts"]
    assert listed["code"] == undelivered.code and listed["undelivered"] is True

    # A second alert whose notification is still on its way is not marked, and the page needs no
    # extra query for it: the flag is one grouped query for the whole list.
    before = await _alert_statements(app, client, "/clinic/alerts")
    await record_checkin(
        db, as_user(personas.alice), CheckInInput(mood=2, anxiety=8, energy=2, safety="active", note=""), None
    )
    assert len(await all_rows(db, Alert)) == 2
    inbox = html.unescape((await client.get("/clinic/alerts")).text)
    assert inbox.count(MARKER) == 1
    assert await _alert_statements(app, client, "/clinic/alerts") == before
    api = {a["code"]: a["undelivered"] for a in (await client.get("/api/v1/alerts")).json()["alerts"]}
    assert sorted(api.values()) == [False, True] and api[undelivered.code] is True


async def test_acknowledging_turns_the_marker_into_a_plain_note(client, db, settings, personas):
    alert = await _alert_nobody_could_be_told(db, settings, personas)
    await client.login(personas.carol)
    done = await client.post_form(f"/clinic/alerts/{alert.code}/acknowledge", {}, htmx=True)
    text = html.unescape(done.text)
    assert done.status_code == 200 and MARKER not in text
    assert "No notification about this alert could be delivered." in text


async def test_the_inbox_list_polls_and_shows_new_alerts_of_its_own_scope_only(client, db, personas):
    south_patient = await make_patient(
        db, SimpleNamespace(id=personas.south_id), "sam@patient.example", "Sam South", [personas.erin]
    )
    await client.login(personas.carol)
    page = await client.get("/clinic/alerts?severity=critical")
    assert page.status_code == 200
    poll, seconds = POLL.search(page.text).groups()
    poll = html.unescape(poll)
    assert int(seconds) <= 15 and poll.startswith("/clinic/alerts?") and "severity=critical" in poll
    assert "<script" not in page.text.split('id="alert-list"')[1].split("</section>")[0]  # CSP: htmx attributes only

    # Nothing new: 204, nothing swapped.
    assert (await client.get(poll, headers={"HX-Request": "true"})).status_code == 204

    # Alerts outside carol's scope (another clinic; a colleague's patient) change nothing for her.
    await press_help(db, as_user(south_patient))
    await press_help(db, as_user(personas.bob))
    assert (await client.get(poll, headers={"HX-Request": "true"})).status_code == 204

    # Her patient's new alert comes back as the list fragment.
    await press_help(db, as_user(personas.alice))
    alerts = {a.patient_id: a for a in await all_rows(db, Alert)}
    mine = alerts[personas.alice.patient_id]
    fragment = await client.get(poll, headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert fragment.text.lstrip().startswith('<section id="alert-list"')
    assert f'id="alert-{mine.code}"' in fragment.text
    for other in (south_patient, personas.bob):
        assert alerts[other.patient_id].code not in fragment.text
    assert "Sam South" not in fragment.text and "Bob Patient" not in fragment.text

    # The fragment carries the new stamp: polling with it is quiet again.
    next_poll = html.unescape(POLL.search(fragment.text).group(1))
    assert next_poll != poll and (await client.get(next_poll, headers={"HX-Request": "true"})).status_code == 204

    # Acknowledging (from another tab, say) is a change too.
    await client.post_form(f"/clinic/alerts/{mine.code}/acknowledge", {})
    assert (await client.get(next_poll, headers={"HX-Request": "true"})).status_code == 200


async def test_outsiders_cannot_poll_the_inbox(client_factory, personas):
    for who in (personas.erin, personas.ada, personas.alice):
        async with client_factory() as other:
            await other.login(who)
            response = await other.get("/clinic/alerts?since=x", headers={"HX-Request": "true"})
            if who is personas.erin:
                # Erin is a clinician of another clinic: her own (empty) inbox, nothing of North's.
                assert response.status_code == 200 and "Alice" not in response.text
            else:
                assert response.status_code == 404
