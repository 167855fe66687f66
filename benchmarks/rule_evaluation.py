"""Rule evaluation for a patient with one year of history (issue 3 target: <= 2 ms per entry).

Part of ``make bench`` (``python -m benchmarks --only rule_evaluation``); alone,
``python -m benchmarks.rule_evaluation`` seeds a throw-away SQLite database (through the Alembic
migrations) with one patient holding 365 daily check-ins, 52 PHQ-9s, 26 GAD-7s and 60 sessions,
then times, per entry:

* ``pure``: ``risk.rules.assess`` on prebuilt facts with the whole year as history (no I/O);
* ``in-transaction``: ``risk.evaluation.evaluate_entry`` for a fresh check-in, i.e. the history
  queries plus the rules, inside a write transaction that is rolled back each time.

Prints median and p95 in milliseconds. A measurement, not a test.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from benchmarks.harness import Figure
from companion.accounts.models import Clinic, Patient, User
from companion.checkins.models import CheckIn
from companion.db import Database
from companion.migrations import upgrade
from companion.questionnaires.models import QuestionnaireResponse
from companion.questionnaires.scoring import PastScore
from companion.risk.evaluation import EntryEvent, evaluate_entry
from companion.risk.facts import CheckInFacts, DayMood, History
from companion.risk.rules import assess
from companion.settings import load_settings
from companion.treatments.models import TreatmentSession

RUNS = 300
NOW = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)


NAMES = ["rule-evaluation-pure", "rule-evaluation-calm-checkin", "rule-evaluation-risky-checkin"]
TARGET_MS = 2.0


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return {"median": round(statistics.median(ordered) * 1000, 3), "p95": round(p95 * 1000, 3)}


def pure_figure() -> dict[str, float]:
    today = NOW.date()
    history = History.from_records(
        tuple(PastScore(NOW - timedelta(weeks=w), 10 + w % 6) for w in range(52)),
        NOW - timedelta(days=360),
        checkins=tuple(DayMood(today - timedelta(days=d), 3 + d % 5) for d in range(1, 366)),
        sessions_attended=60,
        previous_gad7=9,
    )
    entry = CheckInFacts(local_date=today, mood=2, safety="active", note="I can't go on like this")
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        assess(entry, history)
        samples.append(time.perf_counter() - start)
    return _ms(samples)


async def _seed(db: Database) -> tuple[int, int, int]:
    async with db.writing() as session:
        clinic = Clinic(
            name="Bench Clinic",
            timezone="America/New_York",
            region="US",
            hours={d: ["09:00", "17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
        )
        session.add(clinic)
        await session.flush()
        user = User(clinic_id=clinic.id, role="patient", login="bench@x", name="Bench", password_hash="x")
        session.add(user)
        await session.flush()
        patient = Patient(clinic_id=clinic.id, user_id=user.id, name="Bench", timezone="America/New_York")
        session.add(patient)
        await session.flush()
        for d in range(1, 366):
            day = NOW - timedelta(days=d)
            session.add(
                CheckIn(
                    clinic_id=clinic.id,
                    patient_id=patient.id,
                    local_date=day.date(),
                    timezone="UTC",
                    mood=3 + d % 5,
                    anxiety=4,
                    energy=4,
                    safety="none",
                    note="",
                    created_by_id=user.id,
                    created_at=day,
                )
            )
        for w in range(52):
            taken = NOW - timedelta(weeks=w, days=1)
            for instrument, total in (("phq9", 10 + w % 6), ("gad7", 8)):
                if instrument == "gad7" and w % 2:
                    continue
                session.add(
                    QuestionnaireResponse(
                        clinic_id=clinic.id,
                        patient_id=patient.id,
                        instrument=instrument,
                        instrument_version="v",
                        answers={},
                        total=total,
                        band="moderate",
                        result="moderate",
                        local_date=taken.date(),
                        timezone="UTC",
                        created_by_id=user.id,
                        created_at=taken,
                    )
                )
        for s in range(60):
            session.add(
                TreatmentSession(
                    clinic_id=clinic.id,
                    patient_id=patient.id,
                    route="iv",
                    phase="maintenance",
                    scheduled_at=NOW - timedelta(days=6 * s),
                    status="attended",
                )
            )
    return clinic.id, patient.id, user.id


class _Rollback(Exception):
    pass


async def transaction_figure(db: Database, safety: str) -> dict[str, float]:
    clinic_id, patient_id, user_id = await _seed(db)
    samples = []
    for run in range(RUNS):
        try:
            async with db.writing() as session:
                row = CheckIn(
                    clinic_id=clinic_id,
                    patient_id=patient_id,
                    local_date=date(2026, 11, 29),
                    timezone="UTC",
                    revision=1 + run,
                    mood=2,
                    anxiety=7,
                    energy=2,
                    safety=safety,
                    note="",
                    created_by_id=user_id,
                    created_at=NOW,
                    side_effects=[],
                )
                session.add(row)
                await session.flush()
                start = time.perf_counter()
                await evaluate_entry(session, EntryEvent("checkin", clinic_id, patient_id, row))
                samples.append(time.perf_counter() - start)
                raise _Rollback
        except _Rollback:
            pass
    return _ms(samples)


async def _in_transaction(settings: object, safety: str) -> dict[str, float]:
    db = Database(settings.db)  # type: ignore[attr-defined]
    try:
        return await transaction_figure(db, safety)
    finally:
        await db.dispose()


def _measure_in_transaction(safety: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            {
                "COMPANION_DATA_DIR": tmp,
                "COMPANION_SECRET_KEY": "bench-" + "x" * 40,
                "COMPANION_DATABASE_URL": f"sqlite:///{Path(tmp) / 'bench.db'}",
            }
        )
        upgrade(settings)  # Alembic runs its own event loop: outside ours
        return asyncio.run(_in_transaction(settings, safety))


def run(quick: bool = False) -> list[Figure]:
    del quick  # 300 runs take a few seconds either way
    target = f"target <= {TARGET_MS:g} ms per entry"
    measured = [
        ("rule-evaluation-pure", "risk.rules.assess on prebuilt facts, a year of history, no I/O", pure_figure()),
        (
            "rule-evaluation-calm-checkin",
            "evaluate_entry for a calm check-in: history queries + rules, in a write transaction (SQLite)",
            _measure_in_transaction("none"),
        ),
        (
            "rule-evaluation-risky-checkin",
            "evaluate_entry for an active-thoughts check-in: history queries + rules + alert, event and "
            "outbox writes (SQLite)",
            _measure_in_transaction("active"),
        ),
    ]
    writes = "none: informational, it adds writing the alert, its event and outbox rows to the evaluation"
    return [
        Figure(
            name=name,
            summary=f"{name}: median {v['median']:.3f} ms, p95 {v['p95']:.3f} ms ({what}, {RUNS} runs) "
            f"[{writes if 'risky' in name else target}]",
            target=writes if "risky" in name else target,
            method=__doc__.split("\n\n")[1].replace("\n", " ") if __doc__ else what,
            values=v,
            meets_target=None if "risky" in name else v["p95"] <= TARGET_MS,
        )
        for name, what, v in measured
    ]


def main() -> None:
    for figure in run():
        print(figure.summary, flush=True)


if __name__ == "__main__":
    main()
