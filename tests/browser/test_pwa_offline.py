"""The installable app in Chromium: manifest and service worker, offline entries, push, logout (issue 6).

Uses the DevTools protocol where the browser UI would be needed (installability, push delivery).
Every wait is on a condition (a page function, an ``expect``), never a fixed sleep.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, PHONE
from tests.browser.flows import activate, enrol_patient, fill_checkin, log_in_as_staff, new_patient, unique

if TYPE_CHECKING:
    from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser

CONTROLLED = "() => navigator.serviceWorker.controller !== null"
OUTBOX_ENTRIES = """() => new Promise((resolve, reject) => {
  const open = indexedDB.open('companion-outbox', 1);
  open.onupgradeneeded = () => { open.result.createObjectStore('entries', {keyPath: 'key'}); open.result.createObjectStore('meta'); };
  open.onsuccess = () => {
    const db = open.result;
    const get = db.transaction('entries').objectStore('entries').getAll();
    get.onsuccess = () => { db.close(); resolve(get.result); };
    get.onerror = () => { db.close(); reject(get.error); };
  };
  open.onerror = () => reject(open.error);
})"""
PUT_ENTRY = """(entry) => new Promise((resolve, reject) => {
  const open = indexedDB.open('companion-outbox', 1);
  open.onupgradeneeded = () => { open.result.createObjectStore('entries', {keyPath: 'key'}); open.result.createObjectStore('meta'); };
  open.onsuccess = () => {
    const db = open.result;
    const tx = db.transaction('entries', 'readwrite');
    tx.objectStore('entries').put(entry);
    tx.oncomplete = () => { db.close(); resolve(true); };
    tx.onerror = () => { db.close(); reject(tx.error); };
  };
})"""
# Waits (in the page, on the condition) until the worker shows a notification with this title.
# The notification with ``title`` as the page's worker registration shows it, or null after 5 s.
NOTIFICATION = """async (title) => {
  const registration = await navigator.serviceWorker.ready;
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const n = (await registration.getNotifications()).find(x => x.title === title);
    if (n) return {title: n.title, body: n.body, tag: n.tag, url: n.data.url};
    await new Promise(resolve => setTimeout(resolve, 50));
  }
  return null;
}"""
# Resolves (polling in the page, on the condition) once the outbox is empty. wait_for_function does
# not await a promise, so conditions that need IndexedDB are awaited with evaluate instead.
OUTBOX_EMPTY = f"""async () => {{
  while ((await ({OUTBOX_ENTRIES})()).length) await new Promise(resolve => setTimeout(resolve, 50));
  return true;
}}"""


def push_and_show(page: Page, cdp: Any, server: LiveServer, registration: str, payload: dict[str, Any]) -> Any:
    """Deliver a push message to the worker and return the notification it shows. A message that
    arrives while the worker is being started or stopped (right after a navigation) can be
    dropped by DevTools, so it is delivered again, a few times at most."""
    for _attempt in range(4):
        cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": server.url, "registrationId": registration, "data": json.dumps(payload)},
        )
        shown = page.evaluate(NOTIFICATION, payload["title"])
        if shown is not None:
            return shown
    pytest.fail(f"the worker never showed {payload['title']!r}")


def wait_until_controlled(page: Page) -> None:
    page.wait_for_function(CONTROLLED)


def count_rows(server: LiveServer, sql: str, *params: Any) -> int:
    """Read the live server's SQLite file directly (WAL lets us read beside it)."""
    with sqlite3.connect(f"file:{server.data_dir / 'companion.db'}?mode=ro", uri=True, timeout=10) as conn:
        return int(conn.execute(sql, params).fetchone()[0])


def worker_registration(page: Page, server: LiveServer) -> tuple[Any, str]:
    """A DevTools session and the id of the worker registration for the app's root scope."""
    cdp = page.context.new_cdp_session(page)
    found: list[str] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated",
           lambda event: found.extend(r["registrationId"] for r in event["registrations"] if r["scopeURL"] == f"{server.url}/"))
    cdp.send("ServiceWorker.enable")
    for _ in range(200):  # each round trip lets Playwright deliver the protocol events that arrived
        if found:
            return cdp, found[-1]
        page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    pytest.fail("no service worker registration reported for /")


@pytest.fixture
def persistent_context(browser: Any, live_server: LiveServer, tmp_path: Any) -> Iterator[Any]:
    """A context with a real profile: installability is only reported outside incognito (tech-notes 5.1)."""
    context = browser.browser_type.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport=PHONE,
        base_url=live_server.url,
    )
    context.set_default_timeout(20_000)
    try:
        yield context
    finally:
        context.close()


def test_manifest_parses_app_is_installable_and_worker_controls_root(persistent_context: Any, live_server: LiveServer) -> None:
    page = persistent_context.pages[0] if persistent_context.pages else persistent_context.new_page()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))
    wait_until_controlled(page)
    page.reload()  # a load under the worker's control
    wait_until_controlled(page)
    scope = page.evaluate("async () => (await navigator.serviceWorker.getRegistration('/')).scope")
    assert scope == f"{live_server.url}/"
    assert page.evaluate("() => navigator.serviceWorker.controller.scriptURL") == f"{live_server.url}/sw.js"

    cdp = persistent_context.new_cdp_session(page)
    manifest = cdp.send("Page.getAppManifest")
    assert manifest["url"] == f"{live_server.url}/manifest.webmanifest"
    assert manifest["errors"] == [], manifest["errors"]
    parsed = json.loads(manifest["data"])
    assert parsed["display"] == "standalone" and parsed["start_url"] == "/"
    installability = cdp.send("Page.getInstallabilityErrors")
    assert installability["installabilityErrors"] == [], installability


def test_offline_checkin_waits_then_is_stored_exactly_once(new_context: Any, live_server: LiveServer) -> None:
    patient = new_patient(new_context, live_server)
    page = patient.page
    context = page.context
    page.goto("/checkin")
    wait_until_controlled(page)
    key = page.locator("#checkin-form input[name=idempotency_key]").input_value()
    fill_checkin(page, mood=6, anxiety=4, energy=5, note="Written on the train.")

    context.set_offline(True)
    page.get_by_role("button", name="Save check-in").click()
    outbox = page.locator("#outbox")
    expect(outbox).to_contain_text("waiting to send")
    entries = page.evaluate(OUTBOX_ENTRIES)
    assert [e["key"] for e in entries] == [key]
    assert entries[0]["fields"]["note"] == "Written on the train."
    kept = entries[0]
    assert count_rows(live_server, "SELECT count(*) FROM idempotency_record WHERE key = ?", key) == 0

    # Back online: the page (the `online` event) or the worker (Background Sync) sends it.
    with page.expect_response(lambda r: r.url.endswith("/api/v1/checkins") and r.request.method == "POST") as sent:
        context.set_offline(False)
    assert sent.value.status == 201
    page.evaluate(OUTBOX_EMPTY)
    expect(outbox).to_be_hidden()
    assert count_rows(live_server, "SELECT count(*) FROM idempotency_record WHERE key = ?", key) == 1
    code_sql = "SELECT resource_code FROM idempotency_record WHERE key = ?"
    with sqlite3.connect(f"file:{live_server.data_dir / 'companion.db'}?mode=ro", uri=True, timeout=10) as conn:
        code = conn.execute(code_sql, (key,)).fetchone()[0]
    assert count_rows(live_server, "SELECT count(*) FROM checkin WHERE code = ?", code) == 1
    listed = page.evaluate("async () => (await (await fetch('/api/v1/checkins')).json()).checkins")
    assert len(listed) == 1 and listed[0]["note"] == "Written on the train."

    # Replaying the same outbox entry again leaves one row: the server stores each key once.
    page.evaluate(PUT_ENTRY, kept)
    with page.expect_response(lambda r: r.url.endswith("/api/v1/checkins") and r.request.method == "POST") as again:
        page.evaluate("() => window.dispatchEvent(new Event('online'))")
    assert again.value.status == 201
    assert again.value.headers.get("idempotent-replayed") == "true"
    page.evaluate(OUTBOX_EMPTY)
    assert count_rows(live_server, "SELECT count(*) FROM idempotency_record WHERE key = ?", key) == 1
    assert count_rows(live_server, "SELECT count(*) FROM checkin WHERE code = ?", code) == 1
    listed = page.evaluate("async () => (await (await fetch('/api/v1/checkins')).json()).checkins")
    assert len(listed) == 1


def test_offline_journal_entry_refused_on_replay_is_kept_and_explained(new_context: Any, live_server: LiveServer) -> None:
    page = new_patient(new_context, live_server).page
    page.goto("/journal")
    wait_until_controlled(page)
    page.get_by_label(re.compile("Write about your experience")).fill("A quiet evening.")
    page.get_by_label("Only me").check()
    page.context.set_offline(True)
    page.get_by_role("button", name="Save entry").click()
    expect(page.locator("#outbox")).to_contain_text("Journal entry")
    expect(page.locator("#outbox")).to_contain_text("waiting to send")
    # The server would refuse this body (validation): the patient is told and the entry stays.
    entry = page.evaluate(OUTBOX_ENTRIES)[0]
    entry["fields"]["visibility"] = "everyone"
    page.evaluate(PUT_ENTRY, entry)
    with page.expect_response(lambda r: r.url.endswith("/api/v1/journal-entries")) as sent:
        page.context.set_offline(False)
    assert sent.value.status == 422
    expect(page.locator("#outbox")).to_contain_text("could not be saved")
    kept = page.evaluate(OUTBOX_ENTRIES)
    assert len(kept) == 1 and kept[0]["state"] == "invalid"
    page.reload()  # still shown on the next page load: nothing is dropped silently
    expect(page.locator("#outbox")).to_contain_text("could not be saved")
    page.get_by_role("button", name="Delete it").click()
    expect(page.locator("#outbox")).to_be_hidden()


def test_session_expired_replay_keeps_the_entry_and_asks_to_log_in(new_context: Any, live_server: LiveServer) -> None:
    patient = new_patient(new_context, live_server)
    page = patient.page
    page.goto("/checkin")
    wait_until_controlled(page)
    fill_checkin(page, mood=3, anxiety=3, energy=3)
    page.context.set_offline(True)
    page.get_by_role("button", name="Save check-in").click()
    expect(page.locator("#outbox")).to_contain_text("waiting to send")
    page.context.clear_cookies()  # the session ends while the phone is offline
    with page.expect_response(lambda r: r.url.endswith("/api/v1/checkins")) as sent:
        page.context.set_offline(False)
    assert sent.value.status in (401, 403)
    expect(page.locator("#outbox")).to_contain_text("session has ended")
    assert page.evaluate(OUTBOX_ENTRIES)[0]["state"] == "login"
    page.get_by_role("link", name="Log in to send it").click()
    page.get_by_label("E-mail or login name").fill(patient.login)
    page.get_by_label("Password", exact=True).fill(patient.password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/checkin$"))
    page.evaluate(OUTBOX_EMPTY)
    listed = page.evaluate("async () => (await (await fetch('/api/v1/checkins')).json()).checkins")
    assert len(listed) == 1 and listed[0]["mood"] == 3


def test_crisis_page_and_offline_page_load_without_a_connection(new_context: Any) -> None:
    page = new_context().new_page()
    page.goto("/login")
    wait_until_controlled(page)
    page.context.set_offline(True)
    page.goto("/crisis")
    expect(page.get_by_role("heading", name="Get help now", level=1)).to_be_attached()
    expect(page.get_by_role("heading", name="Get help now", level=2)).to_be_visible()
    page.goto("/today")  # never cached: the offline page instead
    expect(page.get_by_role("heading", name="You are offline")).to_be_visible()
    page.locator("main").get_by_role("link", name="get help now").click()
    expect(page).to_have_url(re.compile(r"/crisis$"))
    expect(page.get_by_role("heading", name="Get help now", level=2)).to_be_visible()
    page.context.set_offline(False)


def test_push_shows_the_notification_and_a_click_opens_the_deep_link(new_context: Any, live_server: LiveServer) -> None:
    patient = new_patient(new_context, live_server)
    page = patient.page
    context = page.context
    context.grant_permissions(["notifications"], origin=live_server.url)
    page.goto("/today")
    wait_until_controlled(page)
    cdp, registration = worker_registration(page, live_server)
    title = f"Time for your check-in {secrets.token_hex(2)}"
    payload = {"title": title, "body": "<b>How are you today?</b>", "url": "/checkin", "tag": "reminder"}
    shown = push_and_show(page, cdp, live_server, registration, payload)
    assert shown == {"title": title, "body": "<b>How are you today?</b>", "tag": "reminder", "url": "/checkin"}

    # A click (dispatched in the worker, as the OS would) opens the deep link in the open window.
    worker = next(w for w in context.service_workers if w.url.endswith("/sw.js"))
    worker.evaluate(
        """(title) => self.registration.getNotifications().then(ns => {
             const n = ns.find(x => x.title === title);
             self.dispatchEvent(new NotificationEvent('notificationclick', {notification: n}));
           })""",
        title,
    )
    expect(page).to_have_url(re.compile(r"/checkin$"))
    expect(page.get_by_role("heading", level=1)).to_be_visible()

    # A link to another site is never followed: the click opens the app's root instead.
    wait_until_controlled(page)
    elsewhere = {"title": "Elsewhere", "url": "https://evil.example/x"}
    assert push_and_show(page, cdp, live_server, registration, elsewhere)["url"] == "/"


def test_after_logout_nothing_of_the_patients_is_left_on_the_phone(new_context: Any, live_server: LiveServer) -> None:
    staff = new_context().new_page()
    log_in_as_staff(staff, live_server)
    name = f"Quinn {secrets.token_hex(3)}"
    url = enrol_patient(staff, name)
    page = new_context().new_page()
    activate(page, url, unique("quinn"))
    wait_until_controlled(page)
    canary = f"canary-{secrets.token_hex(6)}"
    page.goto("/checkin")
    fill_checkin(page, mood=5, anxiety=5, energy=5, note=canary)
    page.get_by_role("button", name="Save check-in").click()
    expect(page).to_have_url(re.compile(r"/today"))
    for path in ["/history", "/journal", "/sessions", "/checkin"]:
        page.goto(path)
    if page.request.get(f"{live_server.url}/safety-plan").ok:
        page.goto("/safety-plan")
        button = page.get_by_role("button", name="Keep my safety plan on this phone")
        button.click()
        expect(page.get_by_role("button", name="Remove it from this phone")).to_be_visible()
        assert page.evaluate("() => caches.has('companion-plan')")
    # Things the app might have kept: an unsent entry, and whatever else scripts left in storage.
    page.evaluate(PUT_ENTRY, {"key": f"k{secrets.token_hex(8)}", "kind": "journal", "url": "/api/v1/journal-entries",
                              "fields": {"body": canary}, "state": "invalid", "at": 0})
    page.evaluate("(c) => { localStorage.setItem('x', c); sessionStorage.setItem('y', c); }", canary)

    page.once("dialog", lambda dialog: dialog.accept())  # "1 entries have not been sent yet"
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login\?logged_out=1$"))
    wait_until_controlled(page)  # the worker is registered again, with the anonymous shell only
    page.evaluate("""async () => {
      while ((await indexedDB.databases()).some(d => d.name === 'companion-outbox')) await new Promise(r => setTimeout(r, 50));
    }""")
    left = page.evaluate(
        """async () => {
          const cached = [];
          for (const name of await caches.keys()) {
            const cache = await caches.open(name);
            for (const request of await cache.keys()) {
              cached.push({cache: name, url: new URL(request.url).pathname, text: await (await cache.match(request)).text()});
            }
          }
          return {cached, local: localStorage.length, session: sessionStorage.length,
                  databases: (await indexedDB.databases()).map(d => d.name)};
        }"""
    )
    assert left["local"] == 0 and left["session"] == 0
    assert left["databases"] == []
    assert all(entry["cache"].startswith("companion-shell-") for entry in left["cached"]), [e["cache"] for e in left["cached"]]
    allowed = {"/offline", "/crisis"}
    for entry in left["cached"]:
        assert entry["url"].startswith("/static/") or entry["url"] in allowed, entry["url"]
        assert canary not in entry["text"] and name not in entry["text"], entry["url"]
    page.go_back()
    expect(page.get_by_text(canary)).to_have_count(0)


def test_background_sync_in_the_worker_sends_the_outbox_once(new_context: Any, live_server: LiveServer) -> None:
    """The worker's own replay (the `sync` event), with no page script running to do it instead."""
    page = new_patient(new_context, live_server).page
    page.goto("/checkin")
    wait_until_controlled(page)
    key = page.locator("#checkin-form input[name=idempotency_key]").input_value()
    csrf = page.locator("#checkin-form input[name=_csrf_token]").input_value()
    cdp, registration = worker_registration(page, live_server)
    # A same-origin document without the app script (the manifest), so only the worker can replay.
    page.goto("/manifest.webmanifest")
    fields = {"mood": "4", "anxiety": "5", "energy": "6", "safety": "none", "note": "Sent by the worker."}
    entry = {"key": key, "kind": "checkin", "url": "/api/v1/checkins", "fields": fields, "csrf": csrf, "state": "waiting", "at": 0}
    page.evaluate(PUT_ENTRY, entry)
    for _ in range(2):  # the second sync finds nothing left to send
        cdp.send("ServiceWorker.dispatchSyncEvent",
                 {"origin": live_server.url, "registrationId": registration, "tag": "companion-outbox", "lastChance": False})
        page.evaluate(OUTBOX_EMPTY)
    page.evaluate(PUT_ENTRY, entry)  # and the same entry once more: the server stores the key once
    cdp.send("ServiceWorker.dispatchSyncEvent",
             {"origin": live_server.url, "registrationId": registration, "tag": "companion-outbox", "lastChance": False})
    page.evaluate(OUTBOX_EMPTY)
    assert count_rows(live_server, "SELECT count(*) FROM idempotency_record WHERE key = ?", key) == 1
    listed = page.evaluate("async () => (await (await fetch('/api/v1/checkins')).json()).checkins")
    assert len(listed) == 1 and listed[0]["note"] == "Sent by the worker."


def test_safety_plan_kept_on_the_phone_opens_offline(new_context: Any, live_server: LiveServer) -> None:
    page = new_patient(new_context, live_server).page
    if not page.request.get(f"{live_server.url}/safety-plan").ok:
        pytest.skip("no /safety-plan page in this build")
    page.goto("/safety-plan")
    wait_until_controlled(page)
    page.get_by_role("button", name="Keep my safety plan on this phone").click()
    expect(page.get_by_role("button", name="Remove it from this phone")).to_be_visible()
    page.context.set_offline(True)
    page.goto("/today")
    expect(page.get_by_role("heading", name="You are offline")).to_be_visible()
    page.get_by_role("link", name="My safety plan").click()
    expect(page).to_have_url(re.compile(r"/safety-plan$"))
    expect(page.get_by_role("heading", name="My safety plan", level=1)).to_be_visible()
    page.context.set_offline(False)
    page.goto("/safety-plan")
    page.get_by_role("button", name="Remove it from this phone").click()
    expect(page.get_by_role("button", name="Keep my safety plan on this phone")).to_be_visible()
    assert not page.evaluate("() => caches.has('companion-plan')")


IPHONE_SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
                 "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")


def test_iphone_safari_is_shown_the_add_to_home_screen_steps(new_context: Any, live_server: LiveServer) -> None:
    page = new_patient(new_context, live_server, user_agent=IPHONE_SAFARI).page
    page.goto("/today")
    install = page.get_by_role("region", name="Install Companion on this phone")
    expect(install).to_be_visible()
    expect(install.get_by_role("listitem").first).to_contain_text("Share")
    expect(install).to_contain_text("Add to Home Screen")
    expect(install.get_by_role("button", name="Install Companion")).to_be_hidden()  # no install prompt on iOS
    install.get_by_role("button", name="Not now").click()
    expect(install).to_be_hidden()
    page.reload()
    expect(page.get_by_role("heading", name="Install Companion on this phone")).to_be_hidden()
    settings = page.request.get(f"{live_server.url}/settings")
    if settings.ok and "data-vapid-key" in settings.text():
        page.goto("/settings")
        expect(page.locator("#push-settings")).to_contain_text("work only from the home screen")


def test_other_browsers_without_an_install_prompt_see_no_install_box(new_context: Any, live_server: LiveServer) -> None:
    page = new_patient(new_context, live_server).page
    page.goto("/today")
    wait_until_controlled(page)
    expect(page.locator("#install")).to_be_hidden()
