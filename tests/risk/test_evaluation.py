"""evaluate_entry inside the entry services: alerts, events and outbox rows commit with the entry."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from companion.accounts.auth import CurrentUser
from companion.accounts.models import Clinic
from companion.alerts.help import press_help
from companion.alerts.models import Alert, AlertEvent, AlertStatus
from companion.checkins.forms import CheckInInput
from companion.checkins.models import CheckIn
from companion.checkins.service import record_checkin
from companion.journal.models import JournalEntry
from companion.journal.service import JournalInput, record_entry
from companion.notify.models import OutboxMessage
from companion.questionnaires.instruments import ASQ, PHQ9
from companion.questionnaires.models import QuestionnaireResponse
from companion.questionnaires.service import record_response


def as_user(person) -> CurrentUser:
    return CurrentUser(
        person.user_id, "code", person.clinic_id, person.role, person.name, person.patient_id, person.patient_code, 0
    )


def checkin(safety: str = "none", mood: int = 5, note: str = "") -> CheckInInput:
    return CheckInInput(mood=mood, anxiety=3, energy=5, safety=safety, note=note)


async def rows(db, model):
    async with db.reading() as session:
        return list((await session.execute(select(model).order_by(model.id))).scalars())


async def count(db, model) -> int:
    async with db.reading() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def set_clinic_settings(db, clinic_id: int, settings: dict) -> None:
    async with db.writing() as session:
        (await session.get_one(Clinic, clinic_id)).settings = settings


async def test_active_thoughts_raise_a_high_alert_with_outbox_rows(db, personas):
    result = await record_checkin(db, as_user(personas.alice), checkin("active"), None)
    assert result.risk.show_crisis and result.risk.followup == "asq"
    [alert] = await rows(db, Alert)
    assert (alert.rule_id, alert.severity, alert.status) == ("A5", "high", "open")
    assert (alert.source_kind, alert.source_code) == ("checkin", result.checkin.code)
    assert alert.response_due_at is not None and alert.response_due_at > alert.created_at
    assert [e.kind for e in await rows(db, AlertEvent)] == ["created"]
    [message] = [m for m in await rows(db, OutboxMessage) if m.channel == "push"]
    assert (message.kind, message.channel, message.status, message.recipient_id) == (
        "alert",
        "push",
        "pending",
        personas.carol.user_id,
    )
    assert message.dedupe_key == f"alert:{alert.id}:push:{personas.carol.user_id}"


async def test_a_calm_checkin_raises_nothing(db, personas):
    result = await record_checkin(db, as_user(personas.alice), checkin("none"), None)
    assert not result.risk.show_crisis and result.risk.followup is None
    assert await count(db, Alert) == 0 and await count(db, OutboxMessage) == 0


async def test_repeated_finding_attaches_to_the_open_alert(db, personas):
    user = as_user(personas.alice)
    await record_checkin(db, user, checkin("active"), None)
    await record_checkin(db, user, checkin("active", mood=2), None)
    [alert] = await rows(db, Alert)
    assert [e.kind for e in await rows(db, AlertEvent)] == ["created", "finding_attached"]
    assert await count(db, OutboxMessage) == 2  # push + e-mail; attaching does not page again


async def test_a_worse_finding_raises_the_severity_and_reopens(db, personas):
    user = as_user(personas.alice)
    # An abandoned ASQ after a passive answer is A8 Medium; after an active answer A8 High.
    await record_response(db, user, ASQ, {"q1": None, "q2": 0, "q3": 0, "q4": 0, "q5": None}, "checkin_passive", None)
    [alert] = await rows(db, Alert)
    assert (alert.rule_id, alert.severity) == ("A8", "medium")
    async with db.writing() as session:
        (await session.get_one(Alert, alert.id)).status = AlertStatus.ACKNOWLEDGED
    await record_response(db, user, ASQ, {"q1": None, "q2": 0, "q3": 0, "q4": 0, "q5": None}, "checkin_active", None)
    [alert] = await rows(db, Alert)
    assert (alert.severity, alert.status) == ("high", "open")
    kinds = [e.kind for e in await rows(db, AlertEvent)]
    assert kinds == ["created", "finding_attached", "severity_raised", "reopened"]


async def test_asq_acute_positive_is_critical(db, personas):
    answers = {"q1": 1, "q2": 0, "q3": 1, "q4": 0, "q5": 1}
    result = await record_response(db, as_user(personas.alice), ASQ, answers, "checkin_active", None)
    assert result.risk.show_crisis and result.response.result == "acute_positive"
    [alert] = await rows(db, Alert)
    assert (alert.rule_id, alert.severity, alert.source_kind) == ("A1", "critical", "questionnaire")
    assert (alert.response_due_at - alert.created_at).total_seconds() == 15 * 60


async def test_phq9_item9_uses_history_and_baseline(db, personas):
    user = as_user(personas.alice)
    first = {f"q{i}": 1 for i in range(1, 10)} | {"q9": 0}
    await record_response(db, user, PHQ9, first, None, None)  # total 8
    worse = {f"q{i}": 2 for i in range(1, 9)} | {"q9": 1}  # total 17: +9 vs previous, item 9 = 1
    result = await record_response(db, user, PHQ9, worse, None, None)
    assert {f.rule_id for f in result.risk.findings} >= {"A3", "B1"}
    assert result.risk.followup == "asq"
    assert {a.rule_id for a in await rows(db, Alert)} >= {"A3", "B1"}


async def test_private_journal_match_shows_help_but_tells_no_one(db, personas):
    result = await record_entry(db, as_user(personas.alice), JournalInput("I want to die", shared=False), None)
    assert result.risk.show_crisis and result.risk.followup == "asq"
    assert await count(db, Alert) == 0
    shared = await record_entry(db, as_user(personas.alice), JournalInput("I want to die", shared=True), None)
    [alert] = await rows(db, Alert)
    assert alert.rule_id == "A6" and "want to die" not in alert.reason
    assert alert.source_code == shared.entry.code


async def test_a_rule_switched_off_raises_no_alert_but_help_still_shows(db, personas):
    await set_clinic_settings(db, personas.north_id, {"risk": {"rules": {"A5": {"enabled": False}}}})
    result = await record_checkin(db, as_user(personas.alice), checkin("active"), None)
    assert result.risk.show_crisis and await count(db, Alert) == 0


async def test_cssrs_replaces_the_asq_where_the_clinic_enabled_it(db, personas):
    await set_clinic_settings(db, personas.north_id, {"cssrs_enabled": True})
    result = await record_checkin(db, as_user(personas.alice), checkin("passive"), None)
    assert result.risk.followup == "cssrs"


async def test_bad_clinic_settings_never_block_an_entry(db, personas):
    await set_clinic_settings(db, personas.north_id, {"risk": {"rules": {"Z9": {"enabled": False}}}})
    await record_checkin(db, as_user(personas.alice), checkin("active"), None)
    assert await count(db, Alert) == 1


async def test_help_now_raises_a_critical_alert(db, personas):
    press, outcome = await press_help(db, as_user(personas.alice))
    assert outcome.show_crisis
    [alert] = await rows(db, Alert)
    assert (alert.rule_id, alert.severity, alert.source_kind, alert.source_code) == (
        "A7",
        "critical",
        "help",
        press.code,
    )


@pytest.mark.parametrize("stage", ["alerts", "remember"])
async def test_failure_before_commit_leaves_neither_entry_nor_alert(db, personas, monkeypatch, stage):
    """Atomicity: the entry, its alert, events and outbox rows commit together or not at all."""
    from companion import idempotency
    from companion.alerts import service as alerts_service
    from companion.idempotency import IdempotencyKey

    async def boom(*args, **kwargs):
        raise RuntimeError("injected failure")

    target = (alerts_service, "_queue_outbox") if stage == "alerts" else (idempotency, "remember")
    monkeypatch.setattr(*target, boom)
    key = IdempotencyKey(personas.alice.user_id, "atomic-key-123", "hash", "checkin")
    with pytest.raises(RuntimeError):
        await record_checkin(db, as_user(personas.alice), checkin("active"), key)
    for model in (CheckIn, Alert, AlertEvent, OutboxMessage):
        assert await count(db, model) == 0, model.__name__


async def test_failure_in_a_questionnaire_leaves_nothing(db, personas, monkeypatch):
    from companion.alerts import service as alerts_service

    async def boom(*args, **kwargs):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(alerts_service, "_queue_outbox", boom)
    with pytest.raises(RuntimeError):
        await record_response(
            db, as_user(personas.alice), ASQ, {"q1": 1, "q2": 0, "q3": 0, "q4": 0, "q5": 1}, None, None
        )
    assert await count(db, QuestionnaireResponse) == 0 and await count(db, Alert) == 0
    assert await count(db, JournalEntry) == 0


async def test_history_from_earlier_days_feeds_the_rules(db, personas):
    """C10 counts earlier driving reports; B6 compares with the 14-day average; C7 needs 'new'."""
    from datetime import timedelta

    from companion.checkins.models import CheckInSideEffect
    from companion.checkins.service import local_date_for
    from companion.db import utcnow

    today = local_date_for("America/New_York", utcnow())
    async with db.writing() as session:
        for days_ago in range(1, 11):
            mood = 1 if days_ago <= 2 else 8
            effects = [CheckInSideEffect(effect="drove_after_session", severity=3)] if days_ago == 5 else []
            if days_ago == 1:
                effects.append(CheckInSideEffect(effect="urinary", severity=1))
            session.add(CheckIn(clinic_id=personas.north_id, patient_id=personas.alice.patient_id,
                                local_date=today - timedelta(days=days_ago), timezone="America/New_York", mood=mood,
                                anxiety=3, energy=5, safety="none", note="", created_by_id=personas.alice.user_id,
                                created_at=utcnow() - timedelta(days=days_ago), side_effects=effects))
    data = CheckInInput(mood=1, anxiety=3, energy=5, safety="none",
                        side_effects=(("drove_after_session", 3), ("urinary", 1)))
    result = await record_checkin(db, as_user(personas.alice), data, None)
    found = {f.rule_id: f for f in result.risk.findings}
    assert found["C10"].severity == "medium"  # repeated: once earlier in the 30 days
    assert "B6" in found and result.risk.suggest == "phq9"
    assert "C7" not in found  # urinary symptoms were already reported yesterday
