"""The fading-response job: raise a Low alert (rule "FR") for every patient whose response fades.

``raise_fading_alerts(db, clinic_id)`` is a plain function for the worker's schedule (once a day
is enough: the signal moves over a week). It reads every patient of the clinic with the
dashboard's batched queries, applies ``companion.clinic.fading`` and, in one transaction, raises
or attaches to an unresolved "FR" alert per fading patient (``raise_alerts`` never duplicates an
unresolved alert of the same rule). Returns the number of patients flagged. Safe to run in
several processes at once: SQLite serialises the write transactions; on PostgreSQL two runs may
race, and the worst case is one extra attachment event on the same alert.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from companion.accounts.models import Clinic, Patient
from companion.alerts.service import Source, raise_alerts
from companion.checkins.models import CheckIn
from companion.clinic.dashboard import PatientRow, _baseline, _mood_baselines, _moods, _sessions
from companion.clinic.fading import FadingSettings, assess_fading
from companion.db import Database, utcnow
from companion.risk.evaluation import rule_settings_for
from companion.risk.findings import Finding, Severity
from companion.treatments.models import SessionStatus

RULE_ID = "FR"


async def raise_fading_alerts(db: Database, clinic_id: int) -> int:
    async with db.writing() as session:
        clinic = await session.get_one(Clinic, clinic_id)
        settings, rules = FadingSettings.from_clinic(clinic.settings), rule_settings_for(clinic)
        if not rules.enabled(RULE_ID):
            return 0
        zone = ZoneInfo(clinic.timezone)
        today = utcnow().astimezone(zone).date()
        scope = select(Patient.id).where(Patient.clinic_id == clinic_id)
        rows = {
            pid: PatientRow(pid, code, "", True)
            for pid, code in (
                await session.execute(select(Patient.id, Patient.code).where(Patient.clinic_id == clinic_id))
            ).all()
        }
        await _moods(session, scope, rows, today)
        by_patient, first = await _sessions(session, scope, today)
        baselines = await _mood_baselines(session, first, zone)
        flagged = 0
        for row in rows.values():
            days = [
                s.scheduled_at.astimezone(zone).date()
                for s in by_patient.get(row.id, [])
                if s.status == SessionStatus.ATTENDED
            ]
            if row.id in first:
                days.append(first[row.id].astimezone(zone).date())
            base = _baseline(baselines.get(row.id, {}), first.get(row.id), zone, settings.min_days)
            result = assess_fading(row.moods, days, today, settings, baseline=base)
            if not result.fading:
                continue
            latest = (
                await session.execute(
                    select(CheckIn.code)
                    .where(CheckIn.patient_id == row.id, CheckIn.local_date >= today - timedelta(days=7))
                    .order_by(CheckIn.local_date.desc(), CheckIn.revision.desc())
                    .limit(1)
                )
            ).scalar_one()
            reason = (
                f"Fading response: 7-day mood {result.current:g} vs post-session peak {result.peak:g} and "
                f"baseline {result.baseline:g} ({result.lost_percent:g}% of the gain lost). Consider a review "
                "of the session interval."
            )
            await raise_alerts(
                session, clinic, row.id, [Finding(RULE_ID, Severity.LOW, reason)], Source("checkin", latest), rules
            )
            flagged += 1
    return flagged
