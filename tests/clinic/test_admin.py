"""Clinic administration: staff accounts, care teams, settings; every change audited."""

from __future__ import annotations

from sqlalchemy import func, select

from companion.accounts.models import CareTeamMember, Clinic, User, WebSession
from companion.questionnaires.service import questionnaire_intervals
from companion.risk.evaluation import rule_settings_for
from tests.clinic.helpers import audit_rows

SETTINGS_PAGE = "/clinic/admin"


async def _sessions_of(db, user_id):
    async with db.reading() as session:
        return (await session.execute(select(func.count()).where(WebSession.user_id == user_id))).scalar_one()


async def _user(db, login):
    async with db.reading() as session:
        return (await session.execute(select(User).where(User.login == login))).scalar_one()


async def test_create_staff_then_change_role_and_deactivate_ending_sessions(client_factory, personas, db):
    async with client_factory() as admin:
        await admin.login(personas.ada)
        made = await admin.post_form(
            "/clinic/admin/staff",
            {
                "name": "Fay Nurse",
                "email": "fay@north.example",
                "role": "clinician",
                "password": "long enough password",
            },
        )
        assert made.status_code == 303
        duplicate = await admin.post_form(
            "/clinic/admin/staff",
            {"name": "Fay", "email": "fay@north.example", "role": "clinician", "password": "long enough password"},
        )
        assert duplicate.status_code == 422 and "already exists" in duplicate.text
        async with client_factory() as dave:
            await dave.login(personas.dave)
            assert await _sessions_of(db, personas.dave.user_id) == 1
            dave_code = (await _user(db, personas.dave.login)).code
            changed = await admin.post_form(f"/clinic/admin/staff/{dave_code}/role", {"role": "admin"})
            assert changed.status_code == 303
            assert await _sessions_of(db, personas.dave.user_id) == 0
            assert (await dave.get("/clinic/patients")).status_code == 303  # logged out at once
            await dave.login(personas.dave)
            gone = await admin.post_form(f"/clinic/admin/staff/{dave_code}/deactivate", {})
            assert gone.status_code == 303
            assert await _sessions_of(db, personas.dave.user_id) == 0
            assert (await dave.get("/clinic")).status_code == 303
        ada_code = (await _user(db, personas.ada.login)).code
        assert (await admin.post_form(f"/clinic/admin/staff/{ada_code}/deactivate", {})).status_code == 422
        # another clinic's staff member cannot be reached
        erin_code = (await _user(db, personas.erin.login)).code
        assert (await admin.post_form(f"/clinic/admin/staff/{erin_code}/deactivate", {})).status_code == 404
    actions = [r.action for r in await audit_rows(db, personas.north_id)]
    assert actions.count("staff_change") == 2 and actions.count("role_change") == 1
    assert (await _user(db, personas.dave.login)).active is False


async def test_care_team_assignment(client, personas, db):
    await client.login(personas.ada)
    dave_code = (await _user(db, personas.dave.login)).code
    form = {"patient": personas.alice.patient_code, "clinician": dave_code}
    assert (await client.post_form("/clinic/admin/care-team", form | {"change": "add"})).status_code == 303
    assert (await client.post_form("/clinic/admin/care-team", form | {"change": "primary"})).status_code == 303
    carol_code = (await _user(db, personas.carol.login)).code
    removed = await client.post_form("/clinic/admin/care-team", form | {"clinician": carol_code, "change": "remove"})
    assert removed.status_code == 303
    refused = await client.post_form("/clinic/admin/care-team", form | {"change": "remove"})
    assert refused.status_code == 422
    async with db.reading() as session:
        team = (
            await session.execute(
                select(CareTeamMember.clinician_id, CareTeamMember.is_primary).where(
                    CareTeamMember.patient_id == personas.alice.patient_id
                )
            )
        ).all()
    assert team == [(personas.dave.user_id, True)]
    rows = [r for r in await audit_rows(db, personas.north_id) if r.action == "care_team_change"]
    assert len(rows) == 3 and all(r.patient_id == personas.alice.patient_id for r in rows)


def _settings_form(**changes):
    from companion.risk.findings import RULE_SPECS
    from companion.risk.rule_settings import THRESHOLD_LIMITS, ClinicRuleSettings

    defaults = ClinicRuleSettings()
    form = {
        "timezone": "Europe/London",
        "region": "UK",
        "phone": "+44 20 7946 0000",
        "open_mon": "08:00",
        "close_mon": "18:00",
        "escalation_backup": "",
        "escalation_backup_after_minutes": "15",
        "escalation_admin_after_minutes": "60",
        "fading_threshold_percent": "40",
        "cssrs_enabled": "on",
        "interval_phq9": "7",
        "interval_gad7": "14",
    }
    form |= {f"rule_{spec.rule_id}": "on" for spec in RULE_SPECS if spec.rule_id != "C3"}
    form |= {f"threshold_{name}": str(getattr(defaults, name)) for name in THRESHOLD_LIMITS}
    for severity, target in defaults.response_targets.items():
        form[f"target_{severity}_amount"] = str(target.amount)
        form[f"target_{severity}_unit"] = str(target.unit)
    return form | changes


async def test_settings_are_validated_saved_and_audited(client, personas, db):
    await client.login(personas.ada)
    page = await client.get(SETTINGS_PAGE)
    assert page.status_code == 200 and "C-SSRS" in page.text
    bad = await client.post_form("/clinic/admin/settings", _settings_form(threshold_bp_hold_systolic="190"))
    assert bad.status_code == 422 and "hold threshold must be below" in bad.text
    bad_zone = await client.post_form("/clinic/admin/settings", _settings_form(timezone="Mars/Olympus"))
    assert bad_zone.status_code == 422
    bad_interval = await client.post_form("/clinic/admin/settings", _settings_form(interval_phq9="0"))
    assert bad_interval.status_code == 422 and "Enter a number from 1 to 90" in bad_interval.text
    saved = await client.post_form(
        "/clinic/admin/settings", _settings_form(threshold_bp_hold_systolic="150", interval_gad7="28")
    )
    assert saved.status_code == 303, saved.text[saved.text.find("notice error") :][:600]
    async with db.reading() as session:
        clinic = await session.get_one(Clinic, personas.north_id)
    rules = rule_settings_for(clinic)
    assert rules.bp_hold_systolic == 150 and not rules.enabled("C3") and rules.cssrs_enabled
    assert clinic.timezone == "Europe/London" and clinic.hours == {"mon": ["08:00", "18:00"]}
    assert clinic.settings["fading"] == {"threshold_percent": 40}
    assert questionnaire_intervals(clinic.settings) == {"phq9": 7, "gad7": 28}
    rows = [r for r in await audit_rows(db, personas.north_id) if r.action == "settings_change"]
    assert len(rows) == 1 and "risk" in rows[0].what and "time zone" in rows[0].what
    assert "questionnaire_intervals_days" in rows[0].what


async def test_admin_pages_are_for_admins_only(client_factory, personas):
    for who in ("carol", "alice", "erin"):
        async with client_factory() as c:
            await c.login(getattr(personas, who))
            assert (await c.get("/clinic/admin")).status_code == 404
            assert (await c.get("/clinic/admin/audit")).status_code == 404


async def test_admin_sets_how_long_emergency_access_lasts(client, personas, db):
    from companion.clinic.break_glass import grant_minutes

    await client.login(personas.ada)
    page = await client.get(SETTINGS_PAGE)
    assert 'name="break_glass_minutes"' in page.text and "default (60 minutes)" in page.text
    too_short = await client.post_form("/clinic/admin/settings", _settings_form(break_glass_minutes="2"))
    assert too_short.status_code == 422 and "Enter a number from 5 to 1440" in too_short.text
    assert (await client.post_form("/clinic/admin/settings", _settings_form(break_glass_minutes="90"))).status_code == 303
    async with db.reading() as session:
        clinic = await session.get_one(Clinic, personas.north_id)
    assert grant_minutes(clinic, 60) == 90
    assert (await client.post_form("/clinic/admin/settings", _settings_form(break_glass_minutes=""))).status_code == 303
    async with db.reading() as session:
        clinic = await session.get_one(Clinic, personas.north_id)
    assert grant_minutes(clinic, 60) == 60  # blank: the installation's default again
    rows = [r for r in await audit_rows(db, personas.north_id) if r.action == "settings_change"]
    assert any("break_glass" in r.what for r in rows)
