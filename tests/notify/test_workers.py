"""R5/R7 with real processes on PostgreSQL: two `companion worker` processes deliver 500 due reminders
and 50 alerts exactly once each; then one worker is killed (SIGKILL) mid-run and nothing is lost."""

from __future__ import annotations

import inspect
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from companion.alerts.models import Alert
from companion.notify.models import OutboxMessage
from companion.notify.sender import Sender
from companion.notify.service import set_preferences
from tests.fakes import FakePushService
from tests.notify.helpers import add_subscription, as_user, seed_due_reminders, vapid_pem

COMPANION = str(Path(sys.executable).parent / "companion")
REMINDERS, ALERTS = 500, 50


@pytest.fixture
def push():
    with FakePushService() as service:
        yield service


def worker_env(settings, tmp_path: Path) -> dict[str, str]:
    key = tmp_path / "vapid.pem"
    if not key.exists():
        key.write_text(vapid_pem())
    url = settings.db.url.replace("postgresql+asyncpg://", "postgresql://", 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPANION_")}
    env.update(
        COMPANION_DATABASE_URL=url,
        COMPANION_DATA_DIR=str(tmp_path),
        COMPANION_VAPID_PRIVATE_KEY_FILE=str(key),
        COMPANION_SECRET_KEY="test-secret-key-that-is-long-enough-0123456789",
        COMPANION_SWEEP_SECONDS="1",
        COMPANION_DELIVERY_LEASE_SECONDS="5",
        COMPANION_DELIVERY_BATCH_SIZE="25",
        COMPANION_LOG_LEVEL="warning",
    )
    return env


def start_workers(env, tmp_path: Path, count: int = 2) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            [COMPANION, "worker"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=open(tmp_path / f"worker{n}.log", "ab"),
            stderr=subprocess.STDOUT,
        )  # noqa: SIM115
        for n in range(count)
    ]


def stop(workers) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()


async def queue_alerts(db, personas, count: int) -> None:
    """Alerts as the safety loop writes them: an alert row and its outbox row per care-team clinician."""
    async with db.writing() as session:
        for _ in range(count):
            alert = Alert(
                clinic_id=personas.north_id,
                patient_id=personas.alice.patient_id,
                rule_id="A7",
                severity="critical",
                reason="test",
                source_kind="help",
                source_code="x",
                status="open",
                note="",
                created_at=datetime.now(UTC),
            )
            session.add(alert)
            await session.flush()
            await session.execute(
                insert(OutboxMessage).values(
                    clinic_id=alert.clinic_id,
                    kind="alert",
                    alert_id=alert.id,
                    channel="push",
                    recipient_id=personas.carol.user_id,
                    dedupe_key=f"alert:{alert.id}:push:{personas.carol.user_id}",
                    status="pending",
                    attempts=0,
                    available_at=datetime.now(UTC),
                    created_at=datetime.now(UTC),
                )
            )


async def round_of(db, personas, push, prefix: str) -> list[str]:
    browsers = [push.subscription(f"{prefix}{i}") for i in range(REMINDERS)]
    await seed_due_reminders(db, [b.info for b in browsers], datetime.now(UTC), prefix=prefix)
    await queue_alerts(db, personas, ALERTS)
    return [b.endpoint_id for b in browsers]


async def outbox_status(db) -> dict[str, int]:
    async with db.reading() as session:
        return dict(
            (await session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))).all()
        )


async def test_two_workers_deliver_once_and_survive_a_kill(backend, settings, db, personas, push, tmp_path):
    if backend != "postgresql":
        pytest.skip("several worker processes need PostgreSQL (embedded SQLite runs one process)")
    carol_phone = push.subscription("carol")
    await add_subscription(db, personas.carol, carol_phone)
    await set_preferences(db, as_user(personas.carol), push=True, email=False)
    env = worker_env(settings, tmp_path)

    # Round 1: two workers, nothing killed -> exactly once.
    endpoints = await round_of(db, personas, push, "a")
    workers = start_workers(env, tmp_path)
    try:
        push.wait_for(REMINDERS + ALERTS, timeout=180)
        time.sleep(2)  # a late duplicate would show up here
    finally:
        stop(workers)
    per_endpoint = [len(push.messages(e)) for e in endpoints]
    to_carol = push.messages("carol")
    assert per_endpoint == [1] * REMINDERS
    assert len(to_carol) == ALERTS and len({m.payload["tag"] for m in to_carol}) == ALERTS
    assert all(m.payload["title"] == "Time for your check-in" for e in endpoints[:5] for m in push.messages(e))
    print(f"workers: {REMINDERS} reminders + {ALERTS} alerts, 2 workers, 0 lost, 0 duplicates")

    # Round 2: one worker is killed mid-run -> nothing lost; duplicates only from the killed batch.
    push.clear()
    endpoints = await round_of(db, personas, push, "b")
    workers = start_workers(env, tmp_path)
    try:
        push.wait_for(100, timeout=180)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(timeout=10)
        push.wait_for(REMINDERS + ALERTS, timeout=180)
        deadline = time.monotonic() + 60
        while (await outbox_status(db)).keys() - {"sent"} and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        stop(workers)
    per_endpoint = [len(push.messages(e)) for e in endpoints]
    duplicates = sum(n - 1 for n in per_endpoint if n > 1) + len(push.messages("carol")) - ALERTS
    assert min(per_endpoint) >= 1 and len({m.payload["tag"] for m in push.messages("carol")}) == ALERTS
    # At most what the killed worker had claimed but not recorded: one batch of 25 per sending lane.
    lanes = inspect.signature(Sender.drain).parameters["lanes"].default
    assert duplicates <= lanes * 25
    assert set(await outbox_status(db)) == {"sent"}
    print(
        f"workers-kill: {REMINDERS} reminders + {ALERTS} alerts, one worker SIGKILLed, 0 lost, {duplicates} duplicates "
        "(each shown once: same notification tag)"
    )
