"""Shared pieces for delivery tests: a controlled clock, the fakes wired into settings, a sender."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from py_vapid import Vapid02
from sqlalchemy import select

from companion.accounts.auth import CurrentUser
from companion.notify.delivery_models import PushSubscription
from companion.notify.sender import Sender
from companion.notify.service import build_transports
from companion.settings import EmailSettings, PushSettings, Settings

# What must never appear in a notification: persona names, mood numbers, note text.
FORBIDDEN = re.compile(
    r"alice|bob|carol|dave|mood|anxiety|[0-9]+ ?/ ?10|score|phq|suicid|kill|thoughts|ketamine|spravato|secret-note",
    re.IGNORECASE,
)


class Clock:
    """Real time plus an offset that tests move forward (rows written by services use real time)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    @property
    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.offset += timedelta(**delta)
        return self.now


def as_user(person) -> CurrentUser:
    return CurrentUser(
        person.user_id, "code", person.clinic_id, person.role, person.name, person.patient_id, person.patient_code, 0
    )


@lru_cache(maxsize=1)
def vapid_pem() -> str:
    key = Vapid02()
    key.generate_keys()
    return key.private_pem().decode()


def wired(settings: Settings, sink=None, *, batch_size: int | None = None, **push: object) -> Settings:
    """Settings whose push key is set (as in production) and whose e-mail goes to ``sink``."""
    email = EmailSettings(host=sink.hostname, port=sink.port, security="none") if sink else settings.email
    push_settings = replace(PushSettings(timeout_seconds=1.0, vapid_private_key=vapid_pem()), **push)
    scheduler = replace(settings.scheduler, batch_size=batch_size or settings.scheduler.batch_size)
    return replace(settings, push=push_settings, email=email, scheduler=scheduler)


def make_sender(db, settings: Settings, clock: Clock) -> Sender:
    return Sender(db, settings, build_transports(settings), clock=clock)


async def close(sender: Sender) -> None:
    for transport in sender.transports.values():
        if hasattr(transport, "close"):
            await transport.close()


async def add_subscription(db, person, browser) -> PushSubscription:
    async with db.writing() as session:
        row = PushSubscription(
            clinic_id=person.clinic_id,
            user_id=person.user_id,
            endpoint=browser.info["endpoint"],
            p256dh=browser.info["keys"]["p256dh"],
            auth=browser.info["keys"]["auth"],
        )
        session.add(row)
    return row


async def all_rows(db, model):
    async with db.reading() as session:
        return list((await session.execute(select(model).order_by(model.id))).scalars())


async def seed_due_reminders(db, infos, now: datetime, *, prefix: str = "p", clinic_id: int | None = None) -> list[int]:
    """One patient per browser subscription in ``infos``, each with a daily check-in reminder due a
    minute ago (bulk inserts: thousands in a second). Returns the patients' user ids."""
    from zoneinfo import ZoneInfo

    from sqlalchemy import insert

    import companion.models  # noqa: F401
    from companion.accounts.models import Clinic, Patient, Role, User
    from companion.reminders.models import ReminderKind, ReminderSchedule

    zone = "America/New_York"
    due = now - timedelta(minutes=1)
    local = due.astimezone(ZoneInfo(zone))
    async with db.writing() as session:
        if clinic_id is None:
            clinic = Clinic(name=f"Clinic {prefix}", timezone=zone, region="US", phone="+1 555 0100", hours={})
            session.add(clinic)
            await session.flush()
            clinic_id = clinic.id
        logins = [f"{prefix}{i}@bulk.example" for i in range(len(infos))]
        await session.execute(
            insert(User),
            [
                dict(
                    clinic_id=clinic_id,
                    role=Role.PATIENT,
                    login=login,
                    email=login,
                    name=f"Patient {prefix}{i}",
                    password_hash="x",
                    code=f"{prefix}u{i}",
                )
                for i, login in enumerate(logins)
            ],
        )
        ids = dict((await session.execute(select(User.login, User.id).where(User.login.in_(logins)))).all())
        await session.execute(
            insert(Patient),
            [
                dict(
                    clinic_id=clinic_id,
                    user_id=ids[login],
                    name=f"Patient {prefix}{i}",
                    timezone=zone,
                    reminder_time=local.time().replace(microsecond=0),
                    activated_at=now - timedelta(days=1),
                    code=f"{prefix}pt{i}",
                )
                for i, login in enumerate(logins)
            ],
        )
        patients = dict(
            (await session.execute(select(Patient.user_id, Patient.id).where(Patient.user_id.in_(ids.values())))).all()
        )
        await session.execute(
            insert(PushSubscription),
            [
                dict(
                    clinic_id=clinic_id,
                    user_id=ids[login],
                    endpoint=info["endpoint"],
                    p256dh=info["keys"]["p256dh"],
                    auth=info["keys"]["auth"],
                    code=f"{prefix}s{i}",
                )
                for i, (login, info) in enumerate(zip(logins, infos, strict=False))
            ],
        )
        rows = []
        for patient_id in patients.values():
            for kind in ReminderKind:
                row = dict(
                    clinic_id=clinic_id,
                    patient_id=patient_id,
                    kind=kind,
                    local_time=local.time().replace(microsecond=0),
                    zone=zone,
                    enabled=kind == ReminderKind.CHECKIN,
                    created_at=now - timedelta(days=1),
                    updated_at=now - timedelta(days=1),
                )
                if kind == ReminderKind.CHECKIN:
                    row.update(next_due_at=due, next_local_date=local.date())
                rows.append(row)
        await session.execute(insert(ReminderSchedule), rows)
    return [ids[login] for login in logins]
