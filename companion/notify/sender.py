"""The sender: claim outbox messages with a lease, record each attempt, send, record the outcome.

Contract (architecture.md "Delivering", REL-02/REL-09):

- ``claim``: one statement, ``UPDATE … WHERE id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)
  RETURNING``. PostgreSQL skips rows another sender holds; SQLite ignores SKIP LOCKED but runs
  the statement inside ``BEGIN IMMEDIATE``, so claims there are serial. A claim sets a lease; a
  sender that dies leaves the row ``sending`` with a lease that expires, and the next claim takes it
  again (at-least-once; the receiver de-duplicates by the push ``Topic``/notification tag).
- Before sending, a ``Delivery`` row per target is committed (in the claim's own transaction);
  after, its outcome. A crash between the two leaves an unfinished Delivery row: visible, and the
  message is retried.
- Push 404/410 disable the subscription; 429/5xx/timeouts retry with backoff honouring
  Retry-After; after ``max_attempts`` the message is ``failed``. An alert whose every message
  failed gets a ``delivery_failed`` event (``undelivered_alerts`` is the inbox's query). An alert's
  e-mail row on an install without SMTP is ``skipped``, neither sent nor failed.
- The sender writes no outbox rows: every row (an alert's push and e-mail ones included) is written
  by whatever caused it, in its transaction.
- Hot path (fan-out of thousands of reminders): a few set-wise reads per batch as plain rows, and
  Core executemany for the Delivery inserts and every outcome update; two commits per batch.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from companion.accounts.models import Role, User
from companion.alerts.models import Alert, AlertEvent, AlertStatus
from companion.db import Database, utcnow
from companion.notify.delivery_models import Delivery, DeliveryOutcome, NotificationPreference, PushSubscription
from companion.notify.messages import access_review_notice, alert_notice, reminder_notice, test_notice
from companion.notify.models import OutboxMessage, OutboxStatus
from companion.notify.transports import Notice, Transport, TransportError
from companion.reminders.models import ReminderOccurrence, ReminderSchedule
from companion.settings import Settings

log = logging.getLogger("companion.notify")

ALERT_KINDS = ("alert", "alert_escalation")
# Kinds whose e-mail rows are written whatever the install (with the entry or the grant); without
# SMTP they are set aside, not failed.
STAFF_KINDS = (*ALERT_KINDS, "access_review")
CANCELLED = "cancelled"  # an escalation whose alert was acknowledged before it went out
DELIVERY_FAILED_EVENT = "delivery_failed"
MAX_RETRY_AFTER = timedelta(hours=6)


@dataclass
class Target:
    row: dict[str, Any]  # the Delivery row written before the attempt
    address: Any  # subscription_info dict or e-mail address
    subscription_id: int | None = None
    delivery_id: int | None = None
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


# The hot path's statements, built once. Core with bound parameters (``b_*``) executed as
# executemany: one round trip per batch and table, no ORM objects or unit of work per row.
_delivery = Delivery.__table__
_outbox = OutboxMessage.__table__
_subscription = PushSubscription.__table__
MESSAGE_COLUMNS = select(
    OutboxMessage.id,
    OutboxMessage.clinic_id,
    OutboxMessage.kind,
    OutboxMessage.alert_id,
    OutboxMessage.reminder_occurrence_id,
    OutboxMessage.channel,
    OutboxMessage.recipient_id,
).order_by(OutboxMessage.id)
INSERT_DELIVERY = insert(_delivery).returning(_delivery.c.id, sort_by_parameter_order=True)
FINISH_DELIVERY = (
    update(_delivery)
    .where(_delivery.c.id == bindparam("b_id"))
    .values(
        finished_at=bindparam("b_finished_at"),
        outcome=bindparam("b_outcome"),
        status_code=bindparam("b_status_code"),
        error=bindparam("b_error"),
    )
)
SETTLE_MESSAGE = (
    update(_outbox)
    .where(_outbox.c.id == bindparam("b_id"))
    .values(status=bindparam("b_status"), lease_until=None, available_at=bindparam("b_available_at"))
)
SUBSCRIPTION_SUCCESS = (
    update(_subscription).where(_subscription.c.id == bindparam("b_id")).values(last_success_at=bindparam("b_at"))
)
SUBSCRIPTION_ERROR = (
    update(_subscription)
    .where(_subscription.c.id == bindparam("b_id"))
    .values(last_error=bindparam("b_error"), last_error_at=bindparam("b_at"))
)
SUBSCRIPTION_GONE = (
    update(_subscription)
    .where(_subscription.c.id == bindparam("b_id"))
    .values(last_error=bindparam("b_error"), last_error_at=bindparam("b_at"), disabled_at=bindparam("b_at"))
)


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
        # Claim and write the Delivery rows in one transaction (one commit, not two): either both
        # are committed before anything is sent, or neither and the messages stay pending.
        async with self.db.writing() as session:
            claimed = await claim(session, now, timedelta(seconds=scheduler.lease_seconds), scheduler.batch_size)
            if not claimed:
                return 0
            jobs = await self._prepare(session, claimed)
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

    async def _prepare(self, session: AsyncSession, claimed: Sequence[tuple[int, int]]) -> list[Job]:
        """Read what the batch needs (a few set-wise queries, plain rows) and insert its Delivery
        rows with one executemany ``INSERT … RETURNING id`` (ids in the rows' order)."""
        attempts = dict(claimed)
        messages = (await session.execute(MESSAGE_COLUMNS.where(OutboxMessage.id.in_(attempts)))).all()
        context = await _Context.load(session, messages)
        jobs = []
        for message in messages:
            job = self._job(message, attempts[message.id], context)
            if job.final is None and not job.targets:
                job.final, job.reason = OutboxStatus.FAILED, job.reason or "no target"
            jobs.append(job)
        targets = [target for job in jobs for target in job.targets]
        if targets:
            ids = (await session.execute(INSERT_DELIVERY, [target.row for target in targets])).scalars().all()
            for target, delivery_id in zip(targets, ids, strict=True):
                target.delivery_id = delivery_id
        return jobs

    def _job(self, message: Any, attempt: int, context: _Context) -> Job:
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
        elif message.kind == "access_review":
            job.notice, job.ttl = access_review_notice(), 24 * 3600
        else:
            job.final, job.reason = OutboxStatus.FAILED, f"unknown kind {message.kind}"
            return job
        if message.channel == "email" and message.kind in STAFF_KINDS and not self.settings.email.enabled:
            # Alert e-mail rows are written with the entry, whatever the install; without SMTP they
            # are set aside rather than failed, so they neither fill the outbox with failures nor
            # hide that the push messages failed (``undelivered_alerts``).
            job.final, job.reason = OutboxStatus.SKIPPED, "e-mail is not configured"
            return job
        if message.channel not in self.transports:
            job.final, job.reason = OutboxStatus.FAILED, f"channel {message.channel} not configured"
            return job
        started = self.clock()
        for address, subscription_id in self._addresses(message, user, context):
            row = {
                "clinic_id": message.clinic_id,
                "outbox_message_id": message.id,
                "attempt": attempt,
                "channel": message.channel,
                "subscription_id": subscription_id,
                "started_at": started,
            }
            job.targets.append(Target(row, address, subscription_id))
        if not job.targets:
            job.reason = "no device" if message.channel == "push" else "no address"
        return job

    def _addresses(self, message: Any, user: Any, context: _Context) -> list[tuple[Any, int | None]]:
        if message.channel == "push" and push_enabled(user, context.prefs):
            return [
                ({"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}, sub.id)
                for sub in context.subscriptions.get(user.id, [])
            ]
        if message.channel == "email" and user.email:
            return [(user.email, None)]
        return []

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
                        "b_id": target.delivery_id,
                        "b_finished_at": now,
                        "b_outcome": target.outcome,
                        "b_status_code": target.status_code,
                        "b_error": target.error,
                    }
                )
                if target.subscription_id is not None:
                    if target.outcome == DeliveryOutcome.SENT:
                        successes.append({"b_id": target.subscription_id, "b_at": now})
                    elif target.outcome == DeliveryOutcome.PERMANENT_FAILURE and target.status_code in (404, 410):
                        gone.append(
                            {"b_id": target.subscription_id, "b_error": (target.error or "")[:200], "b_at": now}
                        )
                    else:
                        errors.append(
                            {"b_id": target.subscription_id, "b_error": (target.error or "")[:200], "b_at": now}
                        )
            status, available_at = self._verdict(job, now, max_attempts)
            messages.append({"b_id": job.message_id, "b_status": status, "b_available_at": available_at})
            if status in (OutboxStatus.FAILED, OutboxStatus.SKIPPED) and job.alert_id is not None:
                failed_alerts.add(job.alert_id)  # perhaps its last live message: check the alert
        async with self.db.writing() as session:
            for statement, rows in (
                (FINISH_DELIVERY, deliveries),
                (SETTLE_MESSAGE, messages),
                (SUBSCRIPTION_SUCCESS, successes),
                (SUBSCRIPTION_ERROR, errors),
                (SUBSCRIPTION_GONE, gone),
            ):
                if rows:
                    await session.execute(statement, rows)  # Core executemany: no ORM work per row
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


LIVE_STATUSES = (OutboxStatus.PENDING, OutboxStatus.SENDING, OutboxStatus.SENT)


async def undelivered_alerts(session: AsyncSession, alert_ids: Sequence[int]) -> set[int]:
    """Alerts (of ``alert_ids``) with a failed message and none sent or still being tried.

    Skipped (no SMTP) and cancelled (acknowledged before the escalation went out) messages count
    neither way. One grouped query for any number of alerts (the inbox calls it once per page).
    """
    if not alert_ids:
        return set()
    rows = await session.execute(
        select(OutboxMessage.alert_id)
        .where(OutboxMessage.alert_id.in_(alert_ids))
        .group_by(OutboxMessage.alert_id)
        .having(
            func.sum(case((OutboxMessage.status == OutboxStatus.FAILED, 1), else_=0)) > 0,
            func.sum(case((OutboxMessage.status.in_(LIVE_STATUSES), 1), else_=0)) == 0,
        )
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


def email_enabled(user: Any, prefs: dict[int, Any]) -> bool:
    """Staff: on unless switched off. Patients: off unless switched on (the e-mail fallback)."""
    pref = prefs.get(user.id)
    if pref is not None:
        return pref.email_enabled
    return user.role != Role.PATIENT


def push_enabled(user: Any, prefs: dict[int, Any]) -> bool:
    pref = prefs.get(user.id)
    return pref.push_enabled if pref is not None else True


@dataclass
class _Context:
    """What a batch needs to know, as plain rows (no ORM identity map): five set-wise queries."""

    users: dict[int, Any]  # id -> (id, active, email, role)
    prefs: dict[int, Any]  # user id -> (user_id, push_enabled, email_enabled)
    subscriptions: dict[int, list[Any]]  # user id -> [(id, user_id, endpoint, p256dh, auth)]
    alerts: dict[int, Any]  # id -> (id, code, status)
    reminder_kinds: dict[int, str]

    @classmethod
    async def load(cls, session: AsyncSession, messages: Sequence[Any]) -> _Context:
        user_ids = {m.recipient_id for m in messages}
        alert_ids = {m.alert_id for m in messages if m.alert_id is not None}
        occurrence_ids = {m.reminder_occurrence_id for m in messages if m.reminder_occurrence_id is not None}
        users = {
            row.id: row
            for row in await session.execute(
                select(User.id, User.active, User.email, User.role).where(User.id.in_(user_ids))
            )
        }
        prefs = {
            row.user_id: row
            for row in await session.execute(
                select(
                    NotificationPreference.user_id,
                    NotificationPreference.push_enabled,
                    NotificationPreference.email_enabled,
                ).where(NotificationPreference.user_id.in_(user_ids))
            )
        }
        subscriptions: dict[int, list[Any]] = {}
        for sub in await session.execute(
            select(
                PushSubscription.id,
                PushSubscription.user_id,
                PushSubscription.endpoint,
                PushSubscription.p256dh,
                PushSubscription.auth,
            )
            .where(PushSubscription.user_id.in_(user_ids), PushSubscription.disabled_at.is_(None))
            .order_by(PushSubscription.id)
        ):
            subscriptions.setdefault(sub.user_id, []).append(sub)
        alerts = {}
        if alert_ids:
            alerts = {
                row.id: row
                for row in await session.execute(
                    select(Alert.id, Alert.code, Alert.status).where(Alert.id.in_(alert_ids))
                )
            }
        kinds: dict[int, str] = {}
        if occurrence_ids:
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
