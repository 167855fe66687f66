"""The escalation chain is edited on /clinic/admin (validated, audited) and is what the escalation
job follows: backup and on-call clinicians, their holds past the target, the repeat interval, and
the per-severity response target the first step waits for."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from companion.accounts.models import Clinic, User
from companion.alerts.escalation import escalate_overdue
from companion.alerts.help import press_help
from companion.alerts.models import Alert
from companion.clinic.models import AuditEvent
from companion.notify.models import OutboxMessage
from companion.risk.findings import RULE_SPECS
from companion.risk.rule_settings import THRESHOLD_LIMITS, ClinicRuleSettings
from tests.factories import make_staff
from tests.notify.helpers import all_rows, as_user

SETTINGS = "/clinic/admin/settings"


def settings_form(*, targets: dict[str, tuple[int, str]] | None = None, **fields) -> list[tuple[str, str]]:
    """The admin settings form as a browser sends it: ``fields`` values may be lists (checkboxes)."""
    defaults = ClinicRuleSettings()
    form: list[tuple[str, str]] = [
        ("timezone", "America/New_York"),
        ("region", "US"),
        ("phone", "+1 555 0100"),
        ("fading_threshold_percent", "40"),
        ("interval_phq9", "7"),
        ("interval_gad7", "14"),
    ]
    form += [(f"rule_{spec.rule_id}", "on") for spec in RULE_SPECS]
    form += [(f"threshold_{name}", str(getattr(defaults, name))) for name in THRESHOLD_LIMITS]
    for severity, target in defaults.response_targets.items():
        amount, unit = (targets or {}).get(str(severity), (target.amount, str(target.unit)))
        form += [(f"target_{severity}_amount", str(amount)), (f"target_{severity}_unit", unit)]
    for name, value in fields.items():
        form += [(name, str(v)) for v in (value if isinstance(value, list) else [value])]
    return form


async def codes(db, *people) -> list[str]:
    async with db.reading() as session:
        return [(await session.get_one(User, p.user_id)).code for p in people]


async def clinic_settings(db, clinic_id: int) -> dict:
    async with db.reading() as session:
        return (await session.get_one(Clinic, clinic_id)).settings or {}


async def settings_audits(db, clinic_id: int) -> list[str]:
    async with db.reading() as session:
        return list(
            (
                await session.execute(
                    select(AuditEvent.what).where(
                        AuditEvent.clinic_id == clinic_id, AuditEvent.action == "settings_change"
                    )
                )
            ).scalars()
        )


async def test_admin_edits_the_chain_and_the_escalation_job_follows_it(client, db, personas):
    olive = await make_staff(db, SimpleClinic(personas.north_id), "olive@north.example", "Olive Oncall")
    dave_code, olive_code = await codes(db, personas.dave, olive)
    await client.login(personas.ada)
    page = await client.get("/clinic/admin")
    assert page.status_code == 200 and 'name="escalation_on_call"' in page.text

    saved = await client.post_form(
        SETTINGS,
        settings_form(
            targets={"critical": (20, "minutes")},
            escalation_backup=[dave_code],
            escalation_on_call=[olive_code],
            escalation_backup_after_minutes="5",
            escalation_admin_after_minutes="30",
            escalation_repeat_minutes="10",
        ),
    )
    assert saved.status_code == 303, saved.text[saved.text.find("field-error") :][:400]
    stored = await clinic_settings(db, personas.north_id)
    assert stored["escalation"] == {
        "backup_clinicians": [dave_code],
        "on_call_clinicians": [olive_code],
        "backup_after_minutes": 5,
        "admin_after_minutes": 30,
        "repeat_minutes": 10,
    }
    assert stored["risk"]["response_targets"]["critical"] == {"amount": 20, "unit": "minutes"}
    [what] = await settings_audits(db, personas.north_id)
    assert "escalation" in what and "risk" in what
    page = await client.get("/clinic/admin")
    assert f'value="{dave_code}" checked' in page.text and f'value="{olive_code}" checked' in page.text
    assert (
        'id="escalation_repeat_minutes" name="escalation_repeat_minutes" type="number" min="5" max="1440" value="10"'
        in (page.text)
    )

    # The job follows it: target 20 min (the form's), backup/on-call 5 min past it, admins at 30.
    await press_help(db, as_user(personas.alice))
    [alert] = await all_rows(db, Alert)
    assert alert.response_due_at - alert.created_at == timedelta(minutes=20)
    start = alert.created_at
    assert await escalate_overdue(db, start + timedelta(minutes=24)) == 0  # held 5 minutes past the target
    assert await escalate_overdue(db, start + timedelta(minutes=25, seconds=1)) == 1
    assert await _recipients(db, "step1") == {personas.dave.user_id, olive.user_id}
    assert await escalate_overdue(db, start + timedelta(minutes=36)) == 0  # admins wait until +30 past target
    assert await escalate_overdue(db, start + timedelta(minutes=50, seconds=2)) == 1
    assert await _recipients(db, "step2") == {personas.ada.user_id}
    assert await escalate_overdue(db, start + timedelta(minutes=55)) == 0
    assert await escalate_overdue(db, start + timedelta(minutes=60, seconds=3)) == 1  # then every 10 minutes


async def _recipients(db, step: str) -> set[int]:
    async with db.reading() as session:
        rows = await session.execute(
            select(OutboxMessage.recipient_id, OutboxMessage.channel).where(OutboxMessage.dedupe_key.like(f"%:{step}"))
        )
        found = rows.all()
    assert {channel for _, channel in found} == {"push", "email"}  # push is never the only channel
    return {recipient for recipient, _ in found}


async def test_the_chain_is_validated_and_nothing_is_saved_on_error(client, db, personas):
    ghost = await make_staff(db, SimpleClinic(personas.north_id), "ghost@north.example", "Gone Clinician")
    async with db.writing() as session:
        (await session.get_one(User, ghost.user_id)).active = False
    dave_code, ada_code, erin_code, ghost_code = await codes(db, personas.dave, personas.ada, personas.erin, ghost)
    await client.login(personas.ada)
    before = await clinic_settings(db, personas.north_id)
    cases = [
        ({"escalation_backup": ["not-a-code"]}, "escalation_backup"),
        ({"escalation_backup": [dave_code, erin_code]}, "escalation_backup"),  # another clinic's clinician
        ({"escalation_on_call": [ada_code]}, "escalation_on_call"),  # an admin, not a clinician
        ({"escalation_on_call": [ghost_code]}, "escalation_on_call"),  # deactivated
        (
            {"escalation_backup_after_minutes": "60", "escalation_admin_after_minutes": "30"},
            "escalation_admin_after_minutes",
        ),
        ({"escalation_repeat_minutes": "2"}, "escalation_repeat_minutes"),
        ({"escalation_backup_after_minutes": "-1"}, "escalation_backup_after_minutes"),
        ({"escalation_admin_after_minutes": "soon"}, "escalation_admin_after_minutes"),
        ({"escalation_repeat_minutes": ["10", "20"]}, "escalation_repeat_minutes"),  # sent twice
    ]
    for fields, field in cases:
        response = await client.post_form(SETTINGS, settings_form(**fields))
        assert response.status_code == 422, (fields, response.status_code)
        assert f'id="{field}-error"' in response.text, fields
    assert await clinic_settings(db, personas.north_id) == before
    assert await settings_audits(db, personas.north_id) == []

    # Empty lists and empty minute fields are fine: the defaults (at the target, by severity).
    ok = await client.post_form(SETTINGS, settings_form(escalation_backup="", escalation_repeat_minutes=""))
    assert ok.status_code == 303
    assert (await clinic_settings(db, personas.north_id))["escalation"] == {
        "backup_clinicians": [],
        "on_call_clinicians": [],
        "backup_after_minutes": None,
        "admin_after_minutes": None,
        "repeat_minutes": None,
    }


class SimpleClinic:
    def __init__(self, clinic_id: int) -> None:
        self.id = clinic_id
