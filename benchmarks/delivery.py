"""Delivery figures (issue 4):

* ``push-fanout``: 10,000 due daily reminders, swept and delivered with real encryption by one worker
  process (this one: the production ``sweep_reminders`` and ``Sender``, embedded SQLite) to the Web
  Push fake running in its own process; deliveries per second, beside the encryption-only ceiling
  (aes128gcm + VAPID signature per message, no I/O) measured in the same run.
* ``alert-latency``: a real ``companion serve`` (embedded: scheduler and sender in-process); 200
  patients each press "I need help now"; time from sending the request (an upper bound of the
  commit) to the push fake receiving the clinician's notification, p50 and p99.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

from benchmarks.harness import HOST, ROOT, Figure, Server, latency_summary_ms, log_in_all, percentile
from benchmarks.seed import seed_clinic

FANOUT_NAME = "push-fanout"
LATENCY_NAME = "alert-latency"
NAMES = [FANOUT_NAME, LATENCY_NAME]


def run(quick: bool = False) -> list[Figure]:
    return [fanout(2000 if quick else 10_000), alert_latency(40 if quick else 200)]


# --- fan-out -----------------------------------------------------------------------------------------


class PushProcess:
    """``benchmarks.push_service`` in a child process."""

    def __init__(self, subscriptions: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.push_service", str(subscriptions)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.infos: list[dict[str, Any]] = json.loads(self.process.stdout.readline())

    def stats(self) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("stats\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def wait_for(self, count: int, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if stats["messages"] >= count or time.monotonic() > deadline:
                return stats
            time.sleep(0.05)

    def close(self) -> None:
        try:
            assert self.process.stdin is not None
            self.process.stdin.write("quit\n")
            self.process.stdin.flush()
            self.process.wait(timeout=10)
        except Exception:  # noqa: BLE001
            self.process.kill()


def encryption_ceiling(info: dict[str, Any], samples: int = 3000) -> float:
    """Messages per second one core can encrypt and sign (no I/O): the CPU bound of fan-out."""
    from py_vapid import Vapid02
    from pywebpush import WebPusher

    from companion.notify.messages import reminder_notice

    key = Vapid02()
    key.generate_keys()
    data = reminder_notice("checkin").payload().encode()
    started = time.perf_counter()
    for _ in range(samples):
        WebPusher(info).encode(data, "aes128gcm")
        key.sign({"sub": "mailto:bench@companion.example.org", "aud": "http://127.0.0.1"})
    return samples / (time.perf_counter() - started)


async def _seed_fanout(db: Any, infos: list[dict[str, Any]], now: datetime) -> None:
    from tests.notify.helpers import seed_due_reminders

    await seed_due_reminders(db, infos, now)


async def _deliver(server: Server) -> dict[str, float]:
    from companion.db import Database
    from companion.notify.sender import Sender
    from companion.notify.service import build_transports
    from companion.reminders.service import sweep_reminders
    from companion.settings import load_settings

    settings = load_settings(server.env())
    database = Database(settings.db)
    sender = Sender(database, settings, build_transports(settings))
    try:
        started = time.monotonic()
        swept = await sweep_reminders(database)
        sweep_done = time.monotonic()
        await sender.drain()
        finished = time.monotonic()
    finally:
        for transport in sender.transports.values():
            if hasattr(transport, "close"):
                await transport.close()
        await database.dispose()
    return {"started": started, "sweep_done": sweep_done, "finished": finished, "queued": swept.sent}


def fanout(count: int) -> Figure:
    push = PushProcess(count)
    try:
        with Server("fanout") as server:
            server.prepare(lambda db: _seed_fanout(db, push.infos, datetime.now(UTC)))
            ceiling = encryption_ceiling(push.infos[0])
            timing = asyncio.run(_deliver(server))
            stats = push.wait_for(count, timeout=60)
    finally:
        push.close()
    total = timing["finished"] - timing["started"]
    sending = timing["finished"] - timing["sweep_done"]
    rate = stats["messages"] / total if total else 0.0
    send_rate = stats["messages"] / sending if sending else 0.0
    summary = (
        f"{FANOUT_NAME}: {stats['messages']}/{count} reminders delivered once each to {stats['endpoints']} endpoints "
        f"in {total:.1f} s = {rate:.0f}/s (sweep {timing['sweep_done'] - timing['started']:.1f} s, "
        f"sending {send_rate:.0f}/s); encryption-only ceiling {ceiling:.0f}/s per core"
    )
    return Figure(
        name=FANOUT_NAME,
        summary=summary,
        target=">= 500 deliveries/s, one worker process",
        method="embedded SQLite; sweep_reminders + Sender.drain in one process; push fake (VAPID check + "
        "decryption) in another process on loopback",
        values={
            "delivered": stats["messages"],
            "attempts": stats["attempts"],
            "endpoints": stats["endpoints"],
            "seconds_total": total,
            "per_second": rate,
            "sending_per_second": send_rate,
            "encryption_ceiling_per_second": ceiling,
        },
        meets_target=rate >= 500 and stats["messages"] == count,
    )


# --- alert latency -----------------------------------------------------------------------------------


async def _seed_latency(db: Any, patients: int, info: dict[str, Any]) -> Any:
    from sqlalchemy import select

    from companion.accounts.models import User
    from companion.notify.delivery_models import NotificationPreference, PushSubscription

    seeded = await seed_clinic(db, patients=patients, year_of_data=False, login_prefix="latency")
    async with db.writing() as session:
        clinician = (await session.execute(select(User).where(User.login == "clinician@bench.example"))).scalar_one()
        session.add(
            PushSubscription(
                clinic_id=clinician.clinic_id,
                user_id=clinician.id,
                endpoint=info["endpoint"],
                p256dh=info["keys"]["p256dh"],
                auth=info["keys"]["auth"],
            )
        )
        session.add(
            NotificationPreference(
                clinic_id=clinician.clinic_id, user_id=clinician.id, push_enabled=True, email_enabled=False
            )
        )
    return seeded


def _press_help(port: int, client: Any) -> int:
    import http.client
    from urllib.parse import urlencode

    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request(
            "POST",
            "/help-now",
            body=urlencode({"_csrf_token": client.csrf}),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": client.cookie_header,
                "Origin": f"http://{HOST}:{port}",
            },
        )
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def alert_latency(count: int) -> Figure:
    push = PushProcess(1)
    samples: list[float] = []
    try:
        with Server("alert-latency") as server:
            seeded = server.prepare(lambda db: _seed_latency(db, count, push.infos[0]))
            server.start()
            clients = log_in_all(server.port, seeded.logins, seeded.password)
            for index, client in enumerate(clients):
                sent = time.monotonic()
                status = _press_help(server.port, client)
                if status != 200:
                    raise RuntimeError(f"POST /help-now answered {status}")
                stats = push.wait_for(index + 1, timeout=30)
                if stats["messages"] < index + 1:
                    raise RuntimeError("an alert notification did not arrive within 30 s")
                samples.append(stats["last"] - sent)
    finally:
        push.close()
    summary_ms = latency_summary_ms(samples)
    p50, p99 = percentile(samples, 50) * 1000, percentile(samples, 99) * 1000
    return Figure(
        name=LATENCY_NAME,
        summary=f"{LATENCY_NAME}: {len(samples)} alerts, request-to-push p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {max(samples) * 1000:.0f} ms",
        target="p99 <= 2 s from the check-in's commit to the push fake receiving the clinician's notification",
        method="companion serve (embedded SQLite, scheduler and sender in-process, woken on commit); "
        "one patient at a time presses 'I need help now'; push fake in its own process",
        values={"alerts": len(samples), **summary_ms},
        meets_target=p99 <= 2000,
    )
