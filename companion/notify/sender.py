"""The sender: claim outbox messages with a lease, record each attempt, send, record the outcome.

Contract (architecture.md "Delivering", REL-02/REL-09):

- ``claim``: one statement, ``UPDATE … WHERE id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)
  RETURNING``. PostgreSQL skips rows another sender holds; SQLite ignores SKIP LOCKED but runs
  the statement inside ``BEGIN IMMEDIATE``, so claims there are serial. A claim sets a lease; a
  sender that dies leaves the row ``sending`` with a lease that expires, and the next claim takes it
  again (at-least-once; the receiver de-duplicates by the push ``Topic``/notification tag).
- Before sending, a ``Delivery`` row per target is committed; after, its outcome. A crash between
  the two leaves an unfinished Delivery row: visible, and the message is retried.
- Push 404/410 disable the subscription; 429/5xx/timeouts retry with backoff honouring
  Retry-After; after ``max_attempts`` the message is ``failed``. An alert whose every message
  failed gets a ``delivery_failed`` event (``undelivered_alerts`` is the inbox's query).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from companion.accounts.models import Role, User
from companion.alerts.models import Alert, AlertEvent, AlertStatus
from companion.db import Database, utcnow
from companion.notify.delivery_models import Delivery, DeliveryOutcome, NotificationPreference, PushSubscription
from companion.notify.messages import alert_notice, reminder_notice, test_notice
from companion.notify.models import OutboxMessage, OutboxStatus
from companion.notify.transports import Notice, Transport, TransportError
from companion.reminders.models import ReminderOccurrence, ReminderSchedule
from companion.settings import Settings

log = logging.getLogger("companion.notify")

ALERT_KINDS = ("alert", "alert_escalation")
CANCELLED = "cancelled"  # an escalation whose alert was acknowledged before it went out
DELIVERY_FAILED_EVENT = "delivery_failed"
MAX_RETRY_AFTER = timedelta(hours=6)


@dataclass
class Target:
    delivery: Delivery
    address: Any  # subscription_info dict or e-mail address
    subscription_id: int | None = None
    outcome: str = DeliveryOutcome.RETRY
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None


@dataclass
class Job:
    message_id: int
    attempt: int
    channel: str
    alert_id: int | None
    notice: Notice | None = None
    ttl: int = 0
    targets: list[Target] = field(default_factory=list)
    final: str | None = None  # decided without sending: failed (why in ``reason``) or cancelled
    reason: str = ""


def claimable(now: datetime) -> Any:
    return or_(
        and_(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.available_at <= now),
        and_(OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.lease_until < now),
    )


async def claim(session: AsyncSession, now: datetime, lease: timedelta, limit: int) -> list[tuple[int, int]]:
    """Claim up to ``limit`` due messages for this sender: [(id, attempt number)]."""
    chosen = (
        select(OutboxMessage.id)
        .where(claimable(now))
        .order_by(OutboxMessage.available_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)  # rendered on PostgreSQL only; SQLite is serial anyway
    )
    statement = (
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(chosen.scalar_subquery()))
        .values(status=OutboxStatus.SENDING, lease_until=now + lease, attempts=OutboxMessage.attempts + 1)
        .returning(OutboxMessage.id, OutboxMessage.attempts)
        .execution_options(synchronize_session=False)
    )
    return [(row[0], row[1]) for row in (await session.execute(statement)).all()]


def backoff(attempt: int, retry_after: float | None) -> timedelta:
    """30 s, 1, 2, 4 … minutes (capped at an hour) with jitter; a Retry-After wins when it is longer."""
    base = min(30 * 2 ** (attempt - 1), 3600) * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not crypto
    wait = timedelta(seconds=base)
    if retry_after is not None:
        wait = max(wait, min(timedelta(seconds=retry_after), MAX_RETRY_AFTER))
    return wait


class Sender:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        transports: dict[str, Transport],
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.settings = settings
        self.transports = transports
        self.clock = clock
        self._lock = asyncio.Lock()

    async def run_once(self) -> int:
        """Claim one batch and deliver it; returns how many messages were claimed."""
        now = self.clock()
        scheduler = self.settings.scheduler
        async with self.db.writing() as session:
            claimed = await claim(session, now, timedelta(seconds=scheduler.lease_seconds), scheduler.batch_size)
        if not claimed:
            return 0
        jobs = await self._prepare(claimed, now)
        await asyncio.gather(*(self._send(job) for job in jobs))
        await self._record(jobs)
        return len(claimed)

    async def drain(self, max_batches: int = 1000, lanes: int = 3) -> int:
        """Deliver until nothing is due (one drain at a time per process).

        ``lanes`` batches are in flight at once, so one batch's database work overlaps another's
        sending; each lane claims its own rows, so no message is in two lanes.
        """
        async with self._lock:
            counts = await asyncio.gather(*(self._lane(max_batches) for _ in range(lanes)))
        return sum(counts)

    async def _lane(self, max_batches: int) -> int:
        total = 0
        for _ in range(max_batches):
            claimed = await self.run_once()
            total += claimed
            if not claimed:
                break
        return total

    # --- Before sending: context and Delivery rows -------------------------------------------------

    async def _prepare(self, claimed: Sequence[tuple[int, int]], now: datetime) -> list[Job]:
        attempts = dict(claimed)
        async with self.db.writing() as session:
            messages = list(
                (await session.execute(select(OutboxMessage).where(OutboxMessage.id.in_(attempts)))).scalars()
            )
            context = await _Context.load(session, messages)
            jobs = []
            for message in messages:
                job = self._job(message, attempts[message.id], context)
                if job.final is None and not job.targets:
                    job.final, job.reason = OutboxStatus.FAILED, job.reason or "no target"
                for target in job.targets:
                    session.add(target.delivery)
                jobs.append(job)
            await self._add_email_siblings(session, messages, context)
            await session.flush()
        return jobs

    def _job(self, message: OutboxMessage, attempt: int, context: _Context) -> Job:
        job = Job(message.id, attempt, message.channel, message.alert_id)
        user = context.users.get(message.recipient_id)
        if user is None or not user.active:
            job.final, job.reason = OutboxStatus.FAILED, "recipient inactive"
            return job
        alert = context.alerts.get(message.alert_id) if message.alert_id is not None else None
        reminder_kind = context.reminder_kinds.get(message.reminder_occurrence_id or 0)
        if (message.kind in ALERT_KINDS and alert is None) or (message.kind == "reminder" and reminder_kind is None):
            job.final, job.reason = OutboxStatus.FAILED, "nothing to announce"  # a bad row must not block the batch
            return job
        if message.kind in ALERT_KINDS:
            assert alert is not None
            if message.kind == "alert_escalation" and alert.status != AlertStatus.OPEN:
                job.final = CANCELLED
                return job
            job.notice, job.ttl = (
                alert_notice(alert.code, escalated=message.kind == "alert_escalation"),
                self.settings.push.alert_ttl_seconds,
            )
        elif message.kind == "reminder":
            job.notice = reminder_notice(str(reminder_kind))
            job.ttl = self.settings.push.reminder_ttl_seconds
        elif message.kind == "test":
            job.notice, job.ttl = test_notice(), 600
        else:
            job.final, job.reason = OutboxStatus.FAILED, f"unknown kind {message.kind}"
            return job
        if message.channel not in self.transports:
            job.final, job.reason = OutboxStatus.FAILED, f"channel {message.channel} not configured"
            return job
        for address, subscription_id in self._addresses(message, user, context):
            delivery = Delivery(
                clinic_id=message.clinic_id,
                outbox_message_id=message.id,
                attempt=attempt,
                channel=message.channel,
                subscription_id=subscription_id,
                started_at=self.clock(),
            )
            job.targets.append(Target(delivery, address, subscription_id))
        if not job.targets:
            job.reason = "no device" if message.channel == "push" else "no address"
        return job

    def _addresses(self, message: OutboxMessage, user: User, context: _Context) -> list[tuple[Any, int | None]]:
        if message.channel == "push" and push_enabled(user, context.prefs):
            return [(sub.info(), sub.id) for sub in context.subscriptions.get(user.id, [])]
        if message.channel == "email" and user.email:
            return [(user.email, None)]
        return []

    async def _add_email_siblings(
        self, session: AsyncSession, messages: list[OutboxMessage], context: _Context
    ) -> None:
        """Staff get every alert by e-mail too (unless switched off): one e-mail row beside each push row.

        Only when SMTP is configured: an install without e-mail must not fill the outbox with failures.
        """
        if not self.settings.email.enabled:
            return
        wanted = {}
        for message in messages:
            user = context.users.get(message.recipient_id)
            if (
                message.kind in ALERT_KINDS
                and message.channel == "push"
                and user
                and email_enabled(user, context.prefs)
            ):
                wanted[message.dedupe_key.replace(":push:", ":email:")] = message
        if not wanted:
            return
        existing = set(
            (
                await session.execute(select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.in_(wanted)))
            ).scalars()
        )
        for key, message in wanted.items():
            if key not in existing:
                session.add(
                    OutboxMessage(
                        clinic_id=message.clinic_id,
                        kind=message.kind,
                        alert_id=message.alert_id,
                        channel="email",
                        recipient_id=message.recipient_id,
                        dedupe_key=key,
                        available_at=self.clock(),
                    )
                )

    # --- Sending ----------------------------------------------------------------------------------

    async def _send(self, job: Job) -> None:
        if job.final is not None or job.notice is None:
            return
        transport = self.transports[job.channel]
        await asyncio.gather(*(self._send_one(transport, job, target) for target in job.targets))

    async def _send_one(self, transport: Transport, job: Job, target: Target) -> None:
        assert job.notice is not None
        try:
            target.status_code = await transport.send(target.address, job.notice, ttl=job.ttl)
            target.outcome = DeliveryOutcome.SENT
        except TransportError as exc:
            target.outcome = DeliveryOutcome.PERMANENT_FAILURE if exc.permanent else DeliveryOutcome.RETRY
            target.status_code, target.error, target.retry_after = exc.status_code, str(exc)[:200], exc.retry_after
        except Exception as exc:  # noqa: BLE001 - a bug in one send must not lose the batch's records
            log.exception("unexpected error sending message %s", job.message_id)
            target.outcome, target.error = DeliveryOutcome.RETRY, f"internal error: {type(exc).__name__}"

    # --- After sending: outcomes --------------------------------------------------------------------

    async def _record(self, jobs: list[Job]) -> None:
        """One transaction for the batch: executemany UPDATEs by primary key, not a statement per row."""
        now = self.clock()
        max_attempts = self.settings.scheduler.max_attempts
        deliveries, messages, successes, errors, gone = [], [], [], [], []
        failed_alerts: set[int] = set()
        for job in jobs:
            for target in job.targets:
                deliveries.append(
                    {
                        "id": target.delivery.id,
                        "finished_at": now,
                        "outcome": target.outcome,
                        "status_code": target.status_code,
                        "error": target.error,
                    }
                )
                if target.subscription_id is not None:
                    if target.outcome == DeliveryOutcome.SENT:
                        successes.append({"id": target.subscription_id, "last_success_at": now})
                    elif target.outcome == DeliveryOutcome.PERMANENT_FAILURE and target.status_code in (404, 410):
                        gone.append(
                            {
                                "id": target.subscription_id,
                                "last_error": (target.error or "")[:200],
                                "last_error_at": now,
                                "disabled_at": now,
                            }
                        )
                    else:
                        errors.append(
                            {
                                "id": target.subscription_id,
                                "last_error": (target.error or "")[:200],
                                "last_error_at": now,
                            }
                        )
            status, available_at = self._verdict(job, now, max_attempts)
            messages.append({"id": job.message_id, "status": status, "lease_until": None, "available_at": available_at})
            if status == OutboxStatus.FAILED and job.alert_id is not None:
                failed_alerts.add(job.alert_id)
        async with self.db.writing() as session:
            for model, rows in (
                (Delivery, deliveries),
                (OutboxMessage, messages),
                (PushSubscription, successes),
                (PushSubscription, errors),
                (PushSubscription, gone),
            ):
                if rows:
                    await session.execute(update(model), rows)
            await _note_undelivered(session, failed_alerts, now)

    def _verdict(self, job: Job, now: datetime, max_attempts: int) -> tuple[str, datetime]:
        if job.final is not None:
            return job.final, now
        outcomes = {target.outcome for target in job.targets}
        if DeliveryOutcome.SENT in outcomes:
            return OutboxStatus.SENT, now
        if outcomes == {DeliveryOutcome.PERMANENT_FAILURE} or job.attempt >= max_attempts:
            return OutboxStatus.FAILED, now
        retry_after = max((t.retry_after for t in job.targets if t.retry_after is not None), default=None)
        return OutboxStatus.PENDING, now + backoff(job.attempt, retry_after)


async def undelivered_alerts(session: AsyncSession, alert_ids: Sequence[int]) -> set[int]:
    """Alerts (of ``alert_ids``) that have outbox messages and every one of them failed."""
    if not alert_ids:
        return set()
    rows = await session.execute(
        select(OutboxMessage.alert_id)
        .where(OutboxMessage.alert_id.in_(alert_ids))
        .group_by(OutboxMessage.alert_id)
        .having(func.count() == func.sum(case((OutboxMessage.status == OutboxStatus.FAILED, 1), else_=0)))
    )
    return {row[0] for row in rows}


async def _note_undelivered(session: AsyncSession, alert_ids: set[int], now: datetime) -> None:
    """Record once on the alert that no notification reached anyone."""
    for alert_id in await undelivered_alerts(session, sorted(alert_ids)):
        noted = await session.scalar(
            select(func.count())
            .select_from(AlertEvent)
            .where(AlertEvent.alert_id == alert_id, AlertEvent.kind == DELIVERY_FAILED_EVENT)
        )
        if noted:
            continue
        alert = await session.get_one(Alert, alert_id)
        session.add(
            AlertEvent(
                clinic_id=alert.clinic_id,
                alert_id=alert_id,
                kind=DELIVERY_FAILED_EVENT,
                severity=alert.severity,
                reason="No notification about this alert could be delivered.",
                created_at=now,
            )
        )


def email_enabled(user: User, prefs: dict[int, NotificationPreference]) -> bool:
    """Staff: on unless switched off. Patients: off unless switched on (the e-mail fallback)."""
    pref = prefs.get(user.id)
    if pref is not None:
        return pref.email_enabled
    return user.role != Role.PATIENT


def push_enabled(user: User, prefs: dict[int, NotificationPreference]) -> bool:
    pref = prefs.get(user.id)
    return pref.push_enabled if pref is not None else True


@dataclass
class _Context:
    users: dict[int, User]
    prefs: dict[int, NotificationPreference]
    subscriptions: dict[int, list[PushSubscription]]
    alerts: dict[int, Alert]
    reminder_kinds: dict[int, str]

    @classmethod
    async def load(cls, session: AsyncSession, messages: list[OutboxMessage]) -> _Context:
        user_ids = {m.recipient_id for m in messages}
        alert_ids = {m.alert_id for m in messages if m.alert_id is not None}
        occurrence_ids = {m.reminder_occurrence_id for m in messages if m.reminder_occurrence_id is not None}
        users = {u.id: u for u in (await session.execute(select(User).where(User.id.in_(user_ids)))).scalars()}
        prefs = {
            p.user_id: p
            for p in (
                await session.execute(
                    select(NotificationPreference).where(NotificationPreference.user_id.in_(user_ids))
                )
            ).scalars()
        }
        subscriptions: dict[int, list[PushSubscription]] = {}
        for sub in (
            await session.execute(
                select(PushSubscription)
                .where(PushSubscription.user_id.in_(user_ids), PushSubscription.disabled_at.is_(None))
                .order_by(PushSubscription.id)
            )
        ).scalars():
            subscriptions.setdefault(sub.user_id, []).append(sub)
        alerts = {a.id: a for a in (await session.execute(select(Alert).where(Alert.id.in_(alert_ids)))).scalars()}
        kinds = dict(
            (
                await session.execute(
                    select(ReminderOccurrence.id, ReminderSchedule.kind)
                    .join(ReminderSchedule, ReminderSchedule.id == ReminderOccurrence.schedule_id)
                    .where(ReminderOccurrence.id.in_(occurrence_ids))
                )
            ).all()
        )
        return cls(users, prefs, subscriptions, alerts, kinds)
