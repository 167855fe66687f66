"""The audit trail (LOG-03): who looked at or changed what, when and why, chained by hash.

Contract:

- ``append(session, ...)`` adds one row inside the caller's write transaction (for changes: the
  change and its audit row commit together). ``record(db, ...)`` writes one row in a transaction
  of its own (for reads: the handler reads, then records, in the same request).
- Each clinic has its own chain. Row n stores ``seq = n`` and ``prev_hash`` = row n-1's
  ``row_hash`` (``GENESIS`` for n = 1); ``row_hash = sha256(canonical(row) + prev_hash)`` where the
  canonical form is sorted-key compact JSON of every column except ``id`` and the hashes.
- Appending takes the clinic's chain lock first (SQLite: the write transaction is already
  ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock), so concurrent writers
  queue instead of forking the chain; the unique (clinic_id, seq) index backs that up.
- ``verify_chain`` recomputes every hash and checks seq runs 1..n without gaps. An edited row, a
  deleted row in the middle, or a reordered row is reported. Deleting the newest rows leaves a
  valid shorter chain: the copy kept in a separate store (LOG-03, ``companion.clinic.audit_copy``:
  JSON lines written after each commit, checked by ``companion audit verify``) is what catches that.
- Rows never carry clinical content: ``what`` names record types and fields, not values (LOG-02).
  The one free text is a clinician's stated break-glass reason in ``why`` (AC-06 asks for it).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from companion.accounts.auth import CurrentUser
from companion.clinic.models import AuditEvent, AuditPurpose
from companion.db import Database, utcnow

GENESIS = "0" * 64
ADVISORY_LOCK_CLASS = 7_401  # pg_advisory_xact_lock(class, clinic_id): the audit chain of a clinic
WHAT_MAX = 400


HASHED_FIELDS = ("clinic_id", "seq", "actor_id", "actor_role", "patient_id", "action", "what", "why", "at")


def hashed_fields(row: AuditEvent) -> dict[str, object]:
    """The columns the hash covers, as plain JSON values (``at`` as a fixed-format UTC string)."""
    return {
        "clinic_id": row.clinic_id,
        "seq": row.seq,
        "actor_id": row.actor_id,
        "actor_role": row.actor_role,
        "patient_id": row.patient_id,
        "action": row.action,
        "what": row.what,
        "why": row.why,
        "at": row.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }


def canonical_of(fields: dict[str, object]) -> str:
    return json.dumps(
        {k: fields.get(k) for k in HASHED_FIELDS}, sort_keys=True, separators=(",", ":"), ensure_ascii=True
    )


def hash_of(fields: dict[str, object], prev_hash: str) -> str:
    """``row_hash`` from the hashed fields alone, so a copy of the rows can be checked without the database."""
    return hashlib.sha256((canonical_of(fields) + prev_hash).encode()).hexdigest()


def canonical(row: AuditEvent) -> str:
    return canonical_of(hashed_fields(row))


def row_hash(row: AuditEvent) -> str:
    return hash_of(hashed_fields(row), row.prev_hash)


async def _lock_chain(session: AsyncSession, clinic_id: int) -> None:
    if session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k, :c)"), {"k": ADVISORY_LOCK_CLASS, "c": clinic_id})


async def append(
    session: AsyncSession,
    *,
    clinic_id: int,
    actor_id: int | None,
    actor_role: str,
    action: str,
    what: str,
    why: str = AuditPurpose.TREATMENT,
    patient_id: int | None = None,
) -> AuditEvent:
    """Add one chained row in the caller's write transaction (must be a ``Database.writing()`` session)."""
    await _lock_chain(session, clinic_id)
    last = (
        await session.execute(
            select(AuditEvent.seq, AuditEvent.row_hash)
            .where(AuditEvent.clinic_id == clinic_id)
            .order_by(AuditEvent.seq.desc())
            .limit(1)
        )
    ).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    # Microsecond precision is what both engines store, so the hash survives the round trip.
    row = AuditEvent(
        clinic_id=clinic_id,
        seq=seq,
        actor_id=actor_id,
        actor_role=actor_role,
        patient_id=patient_id,
        action=str(action),
        what=what[:WHAT_MAX],
        why=str(why)[:WHAT_MAX],
        at=utcnow(),
        prev_hash=prev,
    )
    row.row_hash = row_hash(row)
    session.add(row)
    await session.flush()
    return row


async def record(
    db: Database,
    actor: CurrentUser,
    action: str,
    what: str,
    *,
    patient_id: int | None = None,
    why: str = AuditPurpose.TREATMENT,
) -> AuditEvent:
    """One audit row for something ``actor`` just read, in its own transaction."""
    async with db.writing() as session:
        return await append_for(session, actor, action, what, why=why, patient_id=patient_id)


async def append_for(session: AsyncSession, actor: CurrentUser, action: str, what: str, **kwargs: object) -> AuditEvent:
    """``append`` with the actor's clinic, id and role filled in."""
    return await append(
        session,
        clinic_id=actor.clinic_id,
        actor_id=actor.id,
        actor_role=actor.role,
        action=action,
        what=what,
        **kwargs,  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class ChainReport:
    clinic_id: int
    rows: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


async def verify_chain(session: AsyncSession, clinic_id: int) -> ChainReport:
    """Walk the clinic's chain in seq order; report every edit, gap or broken link found."""
    problems: list[str] = []
    expected_seq, prev = 1, GENESIS
    count = 0
    rows = (
        await session.execute(select(AuditEvent).where(AuditEvent.clinic_id == clinic_id).order_by(AuditEvent.seq))
    ).scalars()
    for row in rows:
        count += 1
        if row.seq != expected_seq:
            problems.append(f"gap: expected seq {expected_seq}, found {row.seq}")
        if row.prev_hash != prev:
            problems.append(f"seq {row.seq}: prev_hash does not match the row before it")
        if row_hash(row) != row.row_hash:
            problems.append(f"seq {row.seq}: contents do not match its hash (edited)")
        expected_seq, prev = row.seq + 1, row.row_hash
    return ChainReport(clinic_id, count, tuple(problems))


async def count_for_clinic(session: AsyncSession, clinic_id: int) -> int:
    return int((await session.execute(select(func.count()).where(AuditEvent.clinic_id == clinic_id))).scalar_one())
