"""Background work: APScheduler 3.11 for the periodic jobs, and the sender woken on commit.

``Background`` is what ``companion worker`` runs (production) and what ``companion serve`` runs in
its lifespan in embedded mode; never one per web worker. The scheduler keeps its jobs in memory
(defined here, stable ids, ``replace_existing``): the database is the source of truth, and every
job claims its work there, so several workers at once stay correct.

Jobs: the outbox sweep (the sender's safety net), the reminder sweep, alert escalation, rule D2
(missed check-ins) and the workspace's fading-response rule. Besides them, a listener drains the
outbox as soon as a transaction that queued messages commits (``notify.kick``: PostgreSQL
LISTEN/NOTIFY across processes, a local wake-up within one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from companion.alerts.escalation import escalate_overdue
from companion.db import Database
from companion.notify import kick
from companion.notify.sender import Sender
from companion.notify.service import build_transports
from companion.reminders.missed import raise_missed_checkins
from companion.reminders.service import sweep_reminders
from companion.settings import Settings

log = logging.getLogger("companion.scheduler")

# A tick that starts late (a busy loop, a slow commit) still runs if within this window; later ones
# are dropped and the next tick catches up from the database (the reminder policy is explicit in
# reminders.service, not left to misfire handling).
MISFIRE_GRACE_SECONDS = 30


class Background:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.sender = Sender(db, settings, build_transports(settings))
        self.scheduler = build_scheduler(self)
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._remove_waiter = lambda: None

    async def start(self) -> None:
        self._remove_waiter = kick.add_waiter(kick.event_waker(self._wake))
        self.scheduler.start()
        self._tasks.append(asyncio.create_task(self._drain_on_kick(), name="outbox-kick"))
        if self.db.dialect == "postgresql":
            self._tasks.append(asyncio.create_task(self._listen(), name="outbox-listen"))
        self._wake.set()  # deliver whatever is pending from before the start

    async def stop(self) -> None:
        self._remove_waiter()
        self.scheduler.shutdown(wait=False)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for transport in self.sender.transports.values():
            close = getattr(transport, "close", None)
            if close is not None:
                await close()

    # Jobs (module-level behaviour lives in the domains; these only call it)

    async def deliver(self) -> None:
        await self.sender.drain()

    async def reminders(self) -> None:
        grace = timedelta(minutes=self.settings.scheduler.reminder_grace_minutes)
        await sweep_reminders(self.db, grace=grace)

    async def escalate(self) -> None:
        await escalate_overdue(self.db)

    async def missed_checkins(self) -> None:
        await raise_missed_checkins(self.db)

    async def fading_response(self) -> None:
        """The clinician workspace's fading-response rule, once a day per clinic."""
        from sqlalchemy import select

        from companion.accounts.models import Clinic
        from companion.clinic.fading_job import raise_fading_alerts

        async with self.db.reading() as session:
            clinic_ids = list((await session.execute(select(Clinic.id))).scalars())
        for clinic_id in clinic_ids:
            await raise_fading_alerts(self.db, clinic_id)

    async def _drain_on_kick(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.sender.drain()
            except Exception:  # noqa: BLE001 - the sweep retries; the loop must survive
                log.exception("outbox drain failed")
                await asyncio.sleep(1)

    async def _listen(self) -> None:
        """LISTEN on PostgreSQL: web processes' commits wake this worker at once."""
        import asyncpg

        dsn = self.db.settings.url.replace("postgresql+asyncpg://", "postgresql://", 1)
        while True:
            try:
                connection = await asyncpg.connect(dsn, timeout=10)
                try:
                    await connection.add_listener(kick.CHANNEL, lambda *_: self._wake.set())
                    self._wake.set()  # anything queued while not listening
                    while not connection.is_closed():
                        await asyncio.sleep(5)
                finally:
                    await connection.close()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the database is away: the sweep covers, retry shortly
                log.warning("outbox listener disconnected; retrying")
                await asyncio.sleep(5)


def build_scheduler(background: Background) -> AsyncIOScheduler:
    settings = background.settings.scheduler
    scheduler = AsyncIOScheduler(
        timezone="UTC",
        jobstores={"default": MemoryJobStore()},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_SECONDS},
    )
    soon = datetime.now(UTC) + timedelta(seconds=2)  # a restart catches up at once, by the policy
    jobs = (
        ("outbox-sweep", background.deliver, settings.sweep_seconds, None),
        ("reminder-sweep", background.reminders, 60, soon),
        ("alert-escalation", background.escalate, 60, soon),
        ("missed-checkins", background.missed_checkins, 3600, None),
        ("fading-response", background.fading_response, 24 * 3600, soon + timedelta(minutes=1)),
    )
    for job_id, function, seconds, first in jobs:
        scheduler.add_job(
            function,
            IntervalTrigger(seconds=seconds),
            id=job_id,
            name=job_id,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=MISFIRE_GRACE_SECONDS,
            **({"next_run_time": first} if first else {}),
        )
    return scheduler
