"""Browser tests: Debian's Chromium, driven by Playwright, against a real ``companion serve``.

The server runs as a subprocess on a free port with its own SQLite database in a temporary data
directory, exactly as a small clinic would run it. These tests use that live server only: they must
not request the database fixtures of ``tests/conftest.py`` (``db``, ``client``, ``personas``,
``settings``), which are parametrised over SQLite and PostgreSQL.

Chromium comes from Debian (``/usr/bin/chromium``); Playwright never downloads a browser here. When
it is missing or cannot start, the browser tests are skipped locally and FAIL under ``CI=true``.

Playwright's sync API marks an asyncio loop as running while it is alive, which would break the
suite's async tests; so the browser lives for this package only and is closed before they run.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps calling Google's services, and this
# closed network refuses every one of those connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
STARTUP_SECONDS = 60  # imports + migrations on a busy 2-core machine
STAFF_LOGIN = "carol@x.example"
STAFF_NAME = "Carol Clinician"
STAFF_PASSWORD = "amber kettle on the windowsill"


def missing(reason: str) -> None:
    """Skip locally; fail under CI, where every part of the suite must run."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: the suite must not skip the browser tests)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LiveServer:
    url: str
    data_dir: Path
    env: dict[str, str]
    log: Path
    staff_login: str = STAFF_LOGIN
    staff_password: str = STAFF_PASSWORD

    def cli(self, *args: str, stdin: str = "") -> str:
        """Run ``companion ARGS`` against this server's data directory and return its output."""
        done = subprocess.run(
            [str(companion_executable()), *args], check=False, input=stdin, env=self.env, capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            pytest.fail(f"companion {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}", pytrace=False)
        return done.stdout

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


def companion_executable() -> Path:
    return Path(sys.executable).parent / "companion"


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _wait_until_healthy(process: subprocess.Popen[bytes], server: LiveServer) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while not _healthy(server.url):
        if time.monotonic() > deadline:
            pytest.fail(f"companion serve was not healthy within {STARTUP_SECONDS}s:\n{server.log_tail()}", pytrace=False)
        try:
            # Doubles as the poll interval and as the check that the server has not died.
            code = process.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"companion serve exited with {code} before it was healthy:\n{server.log_tail()}", pytrace=False)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``companion serve`` on a free port, with one clinician (carol) in "Test Clinic"."""
    data_dir = tmp_path_factory.mktemp("live-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPANION_")}  # no outside database or secret
    env |= {
        "COMPANION_DATA_DIR": str(data_dir),
        "COMPANION_BASE_URL": url,
        "COMPANION_SECRET_KEY": secrets.token_urlsafe(48),
    }
    server = LiveServer(url=url, data_dir=data_dir, env=env, log=data_dir / "server.log")
    with server.log.open("wb") as log:
        process = subprocess.Popen(
            [str(companion_executable()), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        _wait_until_healthy(process, server)
        server.cli("user", "create", "--role", "clinician", "--email", STAFF_LOGIN, "--name", STAFF_NAME,
                   "--clinic", "Test Clinic", stdin=STAFF_PASSWORD + "\n")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """When a browser test fails, show what the server logged (a 500's traceback is there)."""
    report = yield
    server = getattr(item, "funcargs", {}).get("live_server")
    if report.failed and isinstance(server, LiveServer):
        report.sections.append(("companion serve log (last lines)", server.log_tail(60)))
    return report


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium (never a Playwright download)."""
    if not CHROMIUM.exists():
        missing(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import expect, sync_playwright
    except ImportError as exc:
        missing(f"Playwright is not installed: {exc}")
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    except PlaywrightError as exc:
        playwright.stop()
        missing(f"Playwright could not launch {CHROMIUM}: {exc}")
    expect.set_options(timeout=15_000)  # a busy 2-core machine hashes passwords slowly
    try:
        yield chromium
    finally:
        chromium.close()
        playwright.stop()


@dataclass
class BrowserLog:
    """Console messages and uncaught page errors from every context a test opened."""

    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def csp_violations(self) -> list[str]:
        return [m for m in self.console if "Content Security Policy" in m or "Refused to" in m]


@pytest.fixture
def browser_log() -> BrowserLog:
    return BrowserLog()


@pytest.fixture
def new_context(browser: Any, live_server: LiveServer, browser_log: BrowserLog) -> Iterator[Callable[..., Any]]:
    """Make a fresh browser context (own cookies, a phone-sized viewport); all are closed afterwards."""
    contexts: list[Any] = []

    def make(**options: Any) -> Any:
        context = browser.new_context(**({"viewport": PHONE, "base_url": live_server.url} | options))
        context.set_default_timeout(20_000)
        context.on("console", lambda message: browser_log.console.append(f"[{message.type}] {message.text} ({message.location.get('url')})"))
        context.on("weberror", lambda error: browser_log.errors.append(str(error.error)))
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
