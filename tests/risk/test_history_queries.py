"""The history the rules see is aggregated in SQL; it must equal the plain definitions.

``evaluation._history`` no longer loads every PHQ-9 and every session (a year of history must not
slow each entry down); it asks the database for the few values the rules use. These tests build
random courses of treatment and compare what it returns with the definitions computed in Python
from all the rows: the baseline (last PHQ-9 before the first session), the lowest total since the
start, the previous PHQ-9 and GAD-7, sessions so far, the first and latest session, the next one.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from companion.db import utcnow
from companion.questionnaires.models import QuestionnaireResponse
from companion.questionnaires.scoring import PastScore, baseline_phq9, lowest_since_start
from companion.risk.evaluation import _history
from companion.treatments.models import SessionStatus, TreatmentSession

STATUSES = (SessionStatus.ATTENDED, SessionStatus.SCHEDULED, SessionStatus.MISSED, SessionStatus.CANCELLED)


def _random_course(seed: int, now: datetime) -> tuple[list[tuple[datetime, str]], list[tuple[str, datetime, int]]]:
    chance = random.Random(seed)
    start = now - timedelta(days=chance.randint(0, 200))
    sessions = []
    for week in range(chance.randint(0, 30)):
        at = start + timedelta(days=7 * week, hours=chance.randint(0, 5))
        status = SessionStatus.SCHEDULED if at > now else chance.choice(STATUSES)
        sessions.append((at, status))
    scores = []
    for _ in range(chance.randint(0, 40)):
        taken = now - timedelta(days=chance.randint(0, 300), minutes=chance.randint(0, 1000))
        scores.append((chance.choice(("phq9", "gad7")), taken, chance.randint(0, 27)))
    return sessions, scores


async def _store(db, personas, sessions, scores) -> None:
    alice = personas.alice
    async with db.writing() as session:
        for at, status in sessions:
            session.add(TreatmentSession(clinic_id=alice.clinic_id, patient_id=alice.patient_id, scheduled_at=at,
                                         route="esketamine_nasal", phase="induction", status=status))
        for instrument, taken, total in scores:
            session.add(QuestionnaireResponse(clinic_id=alice.clinic_id, patient_id=alice.patient_id,
                                              instrument=instrument, instrument_version="test", answers={},
                                              total=total, local_date=taken.date(), timezone="UTC",
                                              created_by_id=alice.user_id, created_at=taken))


@pytest.mark.parametrize("seed", range(6))
async def test_aggregated_history_equals_the_definitions(db, personas, seed):
    now = utcnow().replace(microsecond=0)
    sessions, scores = _random_course(seed, now)
    await _store(db, personas, sessions, scores)
    async with db.reading() as session:
        history, last_session = await _history(session, personas.alice.patient_id, now, now.date())

    so_far = sorted(at for at, status in sessions
                    if at <= now and status in (SessionStatus.ATTENDED, SessionStatus.SCHEDULED))
    upcoming = [at for at, status in sessions if at > now and status == SessionStatus.SCHEDULED]
    phq9 = [PastScore(taken, total) for instrument, taken, total in sorted(scores, key=lambda s: s[1])
            if instrument == "phq9"]
    gad7 = [total for instrument, _taken, total in sorted(scores, key=lambda s: s[1]) if instrument == "gad7"]
    first = so_far[0] if so_far else None

    assert history.sessions_attended == len(so_far)
    assert history.first_session_on == (first.date() if first else None)
    assert last_session == (so_far[-1] if so_far else None)
    assert history.hours_until_next_session == (
        (min(upcoming) - now).total_seconds() / 3600 if upcoming else None
    )
    assert history.baseline_phq9 == baseline_phq9(phq9, first)
    assert history.lowest_phq9_since_start == lowest_since_start(phq9, first)
    assert history.previous_phq9 == (phq9[-1].total if phq9 else None)
    assert history.previous_gad7 == (gad7[-1] if gad7 else None)


async def test_the_entry_itself_is_left_out(db, personas):
    """A questionnaire's own row is already flushed when its history is read: it must not count."""
    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    await _store(db, personas, [], [("phq9", now - timedelta(days=7), 9), ("phq9", now, 20)])
    async with db.reading() as session:
        own_id = max((await session.execute(QuestionnaireResponse.__table__.select())).scalars())
        history, _ = await _history(session, personas.alice.patient_id, now, now.date(), own_id)
    assert history.previous_phq9 == 9 and history.baseline_phq9 == 9
