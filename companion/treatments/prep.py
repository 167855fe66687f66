"""The pre-session checklist: the clinic's fasting window, the patient's answers, and readiness.

The patient answers from the start of the day before a session (in their own time zone) until the
session starts; a later answer replaces the earlier one (``SessionPrep.answered_at`` says when).

Fasting windows are clinic settings, ``clinic.settings["session_prep"]["fasting"][route] =
{"food_hours": n, "liquids_minutes": n}``. Defaults are clinical.md's: esketamine nasal spray no food
for 2 h and no liquids for 30 min (PI); IV and the other routes vary by clinic (unconfirmed) and
default to the "one clinic" example of 4 h without food and 2 h without drinks.

The triage dashboard reads ``readiness_for_sessions``: one query for any number of sessions. Its
blood-pressure flag uses the same source as the dashboard's "above hold threshold" line and rule
C3: the clinic's ``ClinicRuleSettings.bp_hold_systolic/diastolic``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from companion import idempotency
from companion.accounts.auth import CurrentUser
from companion.accounts.models import Clinic
from companion.db import Database, utcnow
from companion.idempotency import IdempotencyKey
from companion.risk.evaluation import EntryEvent, RiskOutcome, evaluate_entry, reassess, rule_settings_for
from companion.treatments.models import NasalSpray, Route, SessionPrep, SessionStatus, TreatmentSession

FOOD_HOURS_LIMITS = (0, 24)
LIQUIDS_MINUTES_LIMITS = (0, 720)


@dataclass(frozen=True)
class FastingWindow:
    food_hours: int
    liquids_minutes: int

    @property
    def liquids_text(self) -> str:
        minutes = self.liquids_minutes
        if minutes and minutes % 60 == 0:
            hours = minutes // 60
            return f"{hours} hour{'s' if hours != 1 else ''}"
        return f"{minutes} minutes"

    @property
    def food_text(self) -> str:
        return f"{self.food_hours} hour{'s' if self.food_hours != 1 else ''}"


DEFAULT_FASTING: Mapping[str, FastingWindow] = {
    Route.ESKETAMINE_NASAL: FastingWindow(2, 30),  # Spravato PI (clinical.md "Pre-session instructions")
    Route.IV: FastingWindow(4, 120),  # varies by clinic, unconfirmed: the "one clinic" example
    Route.IM: FastingWindow(4, 120),
    Route.ORAL: FastingWindow(4, 120),
}


def fasting_window(settings: Mapping[str, Any] | None, route: str) -> FastingWindow:
    """The clinic's fasting window for ``route``; a missing or malformed setting gives the default."""
    default = DEFAULT_FASTING.get(route, DEFAULT_FASTING[Route.IV])
    data = (((settings or {}).get("session_prep") or {}).get("fasting") or {}).get(str(route)) or {}
    if not isinstance(data, Mapping):
        return default
    food, liquids = data.get("food_hours", default.food_hours), data.get("liquids_minutes", default.liquids_minutes)
    if not _whole(food, FOOD_HOURS_LIMITS) or not _whole(liquids, LIQUIDS_MINUTES_LIMITS):
        return default
    return FastingWindow(food, liquids)


def fasting_windows(settings: Mapping[str, Any] | None) -> dict[str, FastingWindow]:
    return {str(route): fasting_window(settings, route) for route in Route}


def _whole(value: Any, limits: tuple[int, int]) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and limits[0] <= value <= limits[1]


def prep_opens_at(treatment: TreatmentSession, zone: str) -> datetime:
    """Midnight at the start of the day before the session, in the patient's time zone."""
    tz = ZoneInfo(zone)
    day_before = treatment.scheduled_at.astimezone(tz).date() - timedelta(days=1)
    return datetime(day_before.year, day_before.month, day_before.day, tzinfo=tz)


def prep_open(treatment: TreatmentSession, zone: str, now: datetime | None = None) -> bool:
    """The checklist takes answers from the day before a scheduled session until it starts."""
    now = now or utcnow()
    return (
        treatment.status == SessionStatus.SCHEDULED
        and now < treatment.scheduled_at
        and now >= prep_opens_at(treatment, zone)
    )


@dataclass(frozen=True)
class PrepInput:
    fasting_ok: bool
    ride_home: bool
    medication_changes: bool
    medication_note: str
    bp_systolic: int | None
    bp_diastolic: int | None
    nasal_spray: str | None

    def fingerprint_payload(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class PrepResult:
    prep: SessionPrep
    risk: RiskOutcome
    replayed: bool = False

    @property
    def bp_finding(self) -> str | None:
        """ "C2" or "C3" when the checklist's blood pressure needs the patient to act."""
        return next((f.rule_id for f in self.risk.findings if f.rule_id in ("C2", "C3")), None)


async def prep_for_session(session: AsyncSession, treatment_id: int) -> SessionPrep | None:
    return (
        await session.execute(select(SessionPrep).where(SessionPrep.treatment_session_id == treatment_id))
    ).scalar_one_or_none()


async def preps_for_patient(session: AsyncSession, patient_id: int) -> dict[int, SessionPrep]:
    rows = (await session.execute(select(SessionPrep).where(SessionPrep.patient_id == patient_id))).scalars()
    return {row.treatment_session_id: row for row in rows}


async def record_prep(
    db: Database,
    user: CurrentUser,
    treatment_code: str,
    zone: str,
    data: PrepInput,
    key: IdempotencyKey | None,
) -> PrepResult | None:
    """Save the checklist for one of the patient's own open sessions; None when not theirs or closed."""

    async def work(session: AsyncSession) -> PrepResult | None:
        if key is not None and (seen := await idempotency.find_replay(session, key)):
            found = await session.execute(select(SessionPrep).where(SessionPrep.code == seen.resource_code))
            row = found.scalar_one()
            again = await reassess(session, EntryEvent("prep", row.clinic_id, row.patient_id, row))
            return PrepResult(row, again, replayed=True)
        treatment = (
            await session.execute(
                select(TreatmentSession).where(
                    TreatmentSession.code == treatment_code, TreatmentSession.patient_id == (user.patient_id or 0)
                )
            )
        ).scalar_one_or_none()
        if treatment is None or not prep_open(treatment, zone):
            return None
        row = await prep_for_session(session, treatment.id)
        if row is None:
            row = SessionPrep(
                clinic_id=treatment.clinic_id, patient_id=treatment.patient_id, treatment_session_id=treatment.id
            )
            session.add(row)
        row.fasting_ok = data.fasting_ok
        row.ride_home = data.ride_home
        row.medication_changes = data.medication_changes
        row.medication_note = data.medication_note if data.medication_changes else ""
        row.bp_systolic, row.bp_diastolic = data.bp_systolic, data.bp_diastolic
        row.nasal_spray = data.nasal_spray if treatment.route == Route.ESKETAMINE_NASAL else None
        row.answered_by_id = user.id
        row.answered_at = utcnow()
        await session.flush()
        # Its blood pressure is a pre-session reading: judged in this transaction (C2, C3).
        outcome = await evaluate_entry(session, EntryEvent("prep", row.clinic_id, row.patient_id, row))
        if key is not None:
            await idempotency.remember(session, key, row.code)
        return PrepResult(row, outcome)

    return await idempotency.run_write(db, work)


@dataclass(frozen=True)
class Readiness:
    """One session's readiness from its checklist; ``answered`` False means no checklist yet."""

    answered: bool
    answered_at: datetime | None = None
    fasting_ok: bool | None = None
    ride_ok: bool | None = None
    medication_changes: bool | None = None
    medication_note: str = ""
    bp: tuple[int, int] | None = None
    bp_high: bool = False
    nasal_spray: str | None = None

    @property
    def ready(self) -> bool:
        return (
            self.answered
            and bool(self.fasting_ok)
            and bool(self.ride_ok)
            and not self.medication_changes
            and not self.bp_high
            and self.nasal_spray != NasalSpray.NOT_ON_TIME
        )

    def lines(self) -> list[str]:
        """Short phrases for the dashboard, problems first."""
        if not self.answered:
            return ["Pre-session checklist not answered"]
        problems, fine = [], []
        (fine if self.fasting_ok else problems).append("Fasting ok" if self.fasting_ok else "Fasting NOT followed")
        (fine if self.ride_ok else problems).append("Ride home ok" if self.ride_ok else "NO ride home arranged")
        if self.medication_changes:
            note = f": {self.medication_note}" if self.medication_note else ""
            problems.append(f"Medication changes{note}")
        else:
            fine.append("No medication changes")
        if self.bp is not None:
            text = f"Checklist BP {self.bp[0]}/{self.bp[1]}"
            if self.bp_high:
                problems.append(text + " — above hold threshold")
            else:
                fine.append(text)
        if self.nasal_spray == NasalSpray.NOT_ON_TIME:
            problems.append("Nasal steroid/decongestant not ≥1 h before")
        return problems + fine


async def readiness_for_sessions(session: AsyncSession, session_ids: list[int]) -> dict[int, Readiness]:
    """Readiness of each treatment session in ``session_ids`` (one query, whatever their number)."""
    if not session_ids:
        return {}
    found = await session.execute(
        select(TreatmentSession.id, Clinic, SessionPrep)
        .join(Clinic, Clinic.id == TreatmentSession.clinic_id)
        .outerjoin(SessionPrep, SessionPrep.treatment_session_id == TreatmentSession.id)
        .where(TreatmentSession.id.in_(session_ids))
    )
    result: dict[int, Readiness] = {}
    thresholds: dict[int, tuple[int, int]] = {}
    for treatment_id, clinic, prep in found.all():
        if prep is None:
            result[treatment_id] = Readiness(answered=False)
            continue
        if clinic.id not in thresholds:
            rules = rule_settings_for(clinic)
            thresholds[clinic.id] = (rules.bp_hold_systolic, rules.bp_hold_diastolic)
        hold_s, hold_d = thresholds[clinic.id]
        bp = None
        if prep.bp_systolic is not None and prep.bp_diastolic is not None:
            bp = (prep.bp_systolic, prep.bp_diastolic)
        result[treatment_id] = Readiness(
            answered=True,
            answered_at=prep.answered_at,
            fasting_ok=prep.fasting_ok,
            ride_ok=prep.ride_home,
            medication_changes=prep.medication_changes,
            medication_note=prep.medication_note,
            bp=bp,
            bp_high=bp is not None and (bp[0] > hold_s or bp[1] > hold_d),
            nasal_spray=prep.nasal_spray,
        )
    return result


# The clinic admin's settings form (companion/clinic/admin.py) edits the windows with these fields.
SETTINGS_FIELDS = tuple(f"fasting_{route}_{part}" for route in Route for part in ("food_hours", "liquids_minutes"))


def settings_from_form(form: Any, settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """``clinic.settings["session_prep"]`` from the admin form; a field left out keeps its value."""
    fasting = {}
    for route in Route:
        current = fasting_window(settings, route)
        food = form.integer(f"fasting_{route}_food_hours", *FOOD_HOURS_LIMITS, required=False)
        liquids = form.integer(f"fasting_{route}_liquids_minutes", *LIQUIDS_MINUTES_LIMITS, required=False)
        fasting[str(route)] = {
            "food_hours": current.food_hours if food is None else food,
            "liquids_minutes": current.liquids_minutes if liquids is None else liquids,
        }
    return {"fasting": fasting}
