"""Figures 5-6: the clinician's triage dashboard and one patient record, on SQLite and PostgreSQL.

One ``companion serve`` process per engine. One clinician with ``PATIENTS`` (300) patients on
their care team, each with a year of data (``benchmarks/seed.py``: 365 daily check-ins with
amendments and side effects, weekly sessions with reflections, ~150 journal entries) plus weekly
PHQ-9 and GAD-7 answers and a few alerts (one patient in five has an open one). The clinician logs
in; one keep-alive connection sends ``GET /clinic`` (then ``GET /clinic/patients/{code}``)
strictly one after another. Each answer includes writing its audit row. On SQLite the server runs
the scheduler in-process (embedded mode), whose catch-up two seconds after start (reminders,
escalation) holds the database's write lock for a second or more: the measurement starts once that
has run, as on a server that has been up a while.

Run alone: ``python -m benchmarks.workspace_latency [--quick] [--engine sqlite|postgresql]``.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import random
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.harness import HOST, Figure, Server, fmt_ms, latency_summary_ms, log_in
from benchmarks.seed import PASSWORD, seed_clinic

DASHBOARD = "dashboard-latency"
RECORD = "record-latency"
NAMES = [f"{DASHBOARD}-sqlite", f"{RECORD}-sqlite", f"{DASHBOARD}-postgresql", f"{RECORD}-postgresql"]
TARGET_P95_MS = 150
PATIENTS = 300
POSTGRES_ADMIN_URL = os.environ.get("COMPANION_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


class PostgresServer(Server):
    """The same server, on a throw-away PostgreSQL database."""

    def __init__(self, label: str):
        super().__init__(label)
        self.database = f"companion_bench_{os.getpid()}_{random.randrange(1 << 30)}"

    def env(self) -> dict[str, str]:
        base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        return super().env() | {"COMPANION_DATABASE_URL": f"{base}/{self.database}"}

    def _admin(self, statement: str) -> None:
        import asyncpg

        async def run() -> None:
            connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
            try:
                await connection.execute(statement)
            finally:
                await connection.close()

        asyncio.run(run())

    def __enter__(self) -> Server:
        self._admin(f'CREATE DATABASE "{self.database}"')
        return self

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self._admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


async def seed_workspace(db: Any) -> dict[str, Any]:
    seeded = await seed_clinic(db, patients=PATIENTS, year_of_data=True)
    from sqlalchemy import select

    from companion.accounts.models import Patient
    from companion.alerts.models import Alert, AlertEvent
    from companion.questionnaires.models import QuestionnaireResponse

    rng = random.Random(29)
    now = datetime.now(UTC)
    async with db.writing() as session:
        rows: list[Any] = []
        for index, patient_id in enumerate(seeded.patient_ids):
            for week in range(52):
                at = now - timedelta(days=7 * week + 1)
                total = max(0, min(27, 22 - (51 - week) // 4 + rng.randint(-2, 2)))
                for instrument, value in (("phq9", total), ("gad7", min(21, total * 2 // 3))):
                    rows.append(
                        QuestionnaireResponse(
                            clinic_id=seeded.clinic_id,
                            patient_id=patient_id,
                            instrument=instrument,
                            instrument_version="bench",
                            answers={},
                            total=value,
                            band="moderate",
                            result="moderate",
                            complete=True,
                            local_date=at.date(),
                            timezone="America/New_York",
                            created_by_id=1,
                            created_at=at,
                        )
                    )
            for n in range(3 + (index % 5 == 0)):
                opened = n == 3
                at = now - timedelta(days=rng.randint(1, 300) if not opened else 0, hours=rng.randint(1, 5))
                rows.append(
                    Alert(
                        clinic_id=seeded.clinic_id,
                        patient_id=patient_id,
                        rule_id=rng.choice(["B1", "B6", "C12", "A3"]),
                        severity=rng.choice(["low", "medium", "high"]),
                        reason="Benchmark alert.",
                        source_kind="checkin",
                        source_code="bench",
                        created_at=at,
                        response_due_at=at + timedelta(hours=4),
                        status="open" if opened else "resolved",
                        note="",
                        resolved_at=None if opened else at + timedelta(hours=2),
                        outcome=None if opened else "contacted_patient",
                    )
                )
        session.add_all(rows)
        await session.flush()
        alerts = [r for r in rows if isinstance(r, Alert)]
        session.add_all(
            [
                AlertEvent(
                    clinic_id=a.clinic_id, alert_id=a.id, kind="created", severity=a.severity, created_at=a.created_at
                )
                for a in alerts
            ]
        )
        code = (await session.execute(select(Patient.code).where(Patient.id == seeded.patient_ids[0]))).scalar_one()
    # A live database has planner statistics; a freshly bulk-loaded one has none until autovacuum
    # gets to it. Measure the steady state.
    async with db.engine.connect() as connection:
        await connection.exec_driver_sql("ANALYZE")
        await connection.commit()
    return {"patient_code": code, "clinic_id": seeded.clinic_id}


STARTUP_JOBS = ("reminder-sweep", "alert-escalation")


def _wait_for_startup_jobs(server: Server, timeout: float = 60.0) -> None:
    """Until the embedded scheduler's start-up catch-up has run (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = server.log_path.read_text(errors="replace") if server.log_path.exists() else ""
        if all(re.search(rf'Job "{job} .*" executed', log) for job in STARTUP_JOBS):
            return
        time.sleep(0.2)


def _measure(port: int, cookie: str, path: str, warmup: int, samples: int) -> tuple[list[float], dict[int, int]]:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    headers = {"Cookie": cookie, "Accept": "text/html", "Accept-Encoding": "gzip", "User-Agent": "companion-bench"}
    timings: list[float] = []
    statuses: dict[int, int] = {}
    for index in range(warmup + samples):
        started = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        elapsed = time.perf_counter() - started
        if index >= warmup:
            timings.append(elapsed)
            statuses[response.status] = statuses.get(response.status, 0) + 1
    conn.close()
    return timings, statuses


def _figure(name: str, engine: str, path_label: str, timings: list[float], statuses: dict[int, int]) -> Figure:
    latency = latency_summary_ms(timings)
    unexpected = sum(n for status, n in statuses.items() if status != 200)
    target = f"target p95 <= {TARGET_P95_MS} ms"
    note = f", {unexpected} unexpected answers" if unexpected else ""
    summary = (
        f"{name}-{engine}: p50 {fmt_ms(latency['p50'])}, p95 {fmt_ms(latency['p95'])}, p99 "
        f"{fmt_ms(latency['p99'])} ({len(timings)} sequential GET {path_label}, clinician with {PATIENTS} "
        f"patients x 1 year, {engine}{note}) [{target}]"
    )
    return Figure(
        name=f"{name}-{engine}",
        summary=summary,
        target=target,
        method=__doc__.split("\n\n")[1].replace("\n", " "),
        values={"latency_ms": latency, "statuses": statuses, "unexpected": unexpected, "patients": PATIENTS},
        meets_target=latency["p95"] <= TARGET_P95_MS,
    )


def run_engine(engine: str, quick: bool = False) -> list[Figure]:
    warmup, samples = (5, 40) if quick else (20, 200)
    server_class = PostgresServer if engine == "postgresql" else Server
    with server_class(f"workspace-{engine}") as server:
        seeded = server.prepare(seed_workspace)
        server.start()
        if engine == "sqlite":
            _wait_for_startup_jobs(server)
        client = log_in(server.port, "clinician@bench.example", PASSWORD)
        dash = _measure(server.port, client.cookie_header, "/clinic", warmup, samples)
        record = _measure(
            server.port, client.cookie_header, f"/clinic/patients/{seeded['patient_code']}", warmup, samples
        )
    return [_figure(DASHBOARD, engine, "/clinic", *dash), _figure(RECORD, engine, "/clinic/patients/{code}", *record)]


def run(quick: bool = False) -> list[Figure]:
    return run_engine("sqlite", quick) + run_engine("postgresql", quick)


if __name__ == "__main__":
    engines = [sys.argv[sys.argv.index("--engine") + 1]] if "--engine" in sys.argv else ["sqlite", "postgresql"]
    for engine in engines:
        for figure in run_engine(engine, quick="--quick" in sys.argv):
            print(figure.summary, flush=True)
