"""The audit trail's copy in a separate store (LOG-03), and the check that it matches the database.

The copy is a directory (``COMPANION_AUDIT_COPY_DIR``, default ``<data dir>/audit``) of append-only
JSON-lines files, one per UTC day of the rows' ``at``: ``audit-2026-11-29.jsonl``. Each line is one
audit row: every hashed column plus ``prev_hash`` and ``row_hash``, so the chain can be verified from
the copy alone (``audit.hash_of``).

How rows get there:

- Never inside the transaction that writes them. A session event notes commits that added audit
  rows and, after the commit, wakes every ``AuditCopier`` in the process (the web app runs one).
- The copier copies "everything committed past the high-water mark": ``high-water.json`` in the
  directory holds, per clinic, the last seq copied. Rows are read from the database in seq order and
  appended under an exclusive ``flock`` (several processes may share the directory), the file is
  fsynced, then the mark moves. A crash between the commit and the file write, a full disk or an
  unwritable directory only delays the copy: the next wake-up or the periodic sweep
  (``COMPANION_AUDIT_COPY_SWEEP_SECONDS``) or ``companion audit copy`` catches up. The database row
  is never lost or rolled back because of the copy; failures are logged without row contents.
- Deleting the newest rows from the database leaves a valid shorter chain there; the copy (and its
  mark) still has them, so ``verify`` reports it. Editing either side, or dropping a line from the
  copy, is reported too.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from companion.accounts.models import Clinic
from companion.clinic import audit
from companion.clinic.models import AuditEvent
from companion.db import Database, utcnow

log = logging.getLogger("companion.audit_copy")

FILE_PREFIX = "audit-"
FILE_SUFFIX = ".jsonl"
MARK_FILE = "high-water.json"
LOCK_FILE = ".lock"
BATCH = 1000
COPY_GRACE = timedelta(minutes=10)  # `verify`: a row this old must be in the copy
_FLAG = "companion_audit_rows_added"
_waiters: set[Callable[[], None]] = set()


# --- Waking copiers after a commit that added audit rows -------------------------------------------


def add_waiter(callback: Callable[[], None]) -> Callable[[], None]:
    _waiters.add(callback)
    return lambda: _waiters.discard(callback)


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context: object, _instances: object) -> None:
    if any(isinstance(obj, AuditEvent) for obj in session.new):
        session.info[_FLAG] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_FLAG, False):
        for wake in list(_waiters):
            try:
                wake()
            except RuntimeError:  # the waiter's loop is closed
                _waiters.discard(wake)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_FLAG, None)


# --- The copy --------------------------------------------------------------------------------------


def line_of(row: AuditEvent) -> dict[str, Any]:
    return {**audit.hashed_fields(row), "prev_hash": row.prev_hash, "row_hash": row.row_hash}


def file_name(line: dict[str, Any]) -> str:
    return f"{FILE_PREFIX}{str(line['at'])[:10]}{FILE_SUFFIX}"


def read_mark(directory: Path) -> dict[int, int]:
    """Per clinic, the last seq copied (empty when nothing was copied yet)."""
    try:
        data = json.loads((directory / MARK_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return {int(clinic): int(seq) for clinic, seq in data.get("copied_seq", {}).items()}


def _write_mark(directory: Path, mark: dict[int, int]) -> None:
    temporary = directory / (MARK_FILE + ".tmp")
    with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
        json.dump({"copied_seq": {str(k): v for k, v in sorted(mark.items())}}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, directory / MARK_FILE)


def _append(directory: Path, lines: list[dict[str, Any]]) -> int:
    """Append ``lines`` (seq order per clinic) past the mark, under the directory's lock; returns how many."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # owner only: reasons and patient ids
    with os.fdopen(os.open(directory / LOCK_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        mark = read_mark(directory)  # again, under the lock: another process may have copied meanwhile
        files: dict[str, list[str]] = {}
        copied = 0
        for line in lines:
            clinic, seq = int(line["clinic_id"]), int(line["seq"])
            if seq <= mark.get(clinic, 0):
                continue
            text = json.dumps(line, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
            files.setdefault(file_name(line), []).append(text + "\n")
            mark[clinic] = seq
            copied += 1
        for name, texts in files.items():
            fd = os.open(directory / name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, "".join(texts).encode("ascii"))
                os.fsync(fd)
            finally:
                os.close(fd)
        if copied:
            _write_mark(directory, mark)
        return copied


async def _uncopied(session: AsyncSession, mark: dict[int, int]) -> list[dict[str, Any]]:
    # One index range per clinic (clinic_id, seq > mark): cheap when nothing is new, however long the trail.
    lines: list[dict[str, Any]] = []
    for clinic_id in (await session.execute(select(Clinic.id).order_by(Clinic.id))).scalars():
        after = mark.get(clinic_id, 0)
        rows = (
            await session.execute(
                select(AuditEvent)
                .where(AuditEvent.clinic_id == clinic_id, AuditEvent.seq > after)
                .order_by(AuditEvent.seq)
                .limit(BATCH)
            )
        ).scalars()
        lines.extend(line_of(row) for row in rows)
    return lines


async def copy_pending(db: Database, directory: Path) -> int:
    """Copy every committed audit row past the high-water mark; returns the number copied."""
    total = 0
    while True:
        mark = await asyncio.to_thread(read_mark, directory)
        async with db.reading() as session:
            lines = await _uncopied(session, mark)
        if not lines:
            return total
        copied = await asyncio.to_thread(_append, directory, lines)
        total += copied
        if copied == 0:
            return total


class AuditCopier:
    """Keeps the copy up to date in a running process: on every audit commit, and every sweep."""

    def __init__(self, db: Database, directory: Path, sweep_seconds: float) -> None:
        self.db = db
        self.directory = directory
        self.sweep_seconds = sweep_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._remove_waiter: Callable[[], None] = lambda: None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._remove_waiter = add_waiter(lambda: loop.call_soon_threadsafe(self._wake.set))
        self._task = asyncio.create_task(self._run(), name="audit-copy")
        self._wake.set()  # whatever a crash left behind

    async def stop(self) -> None:
        """Stop, after one last catch-up so a clean shutdown leaves nothing uncopied."""
        self._remove_waiter()
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                await self._copy()

    async def _run(self) -> None:
        # asyncio.timeout, not wait_for: on Python 3.11, wait_for swallows a cancellation that
        # arrives just as the event is set, and this loop would then never end (a hung shutdown).
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.sweep_seconds):
                    await self._wake.wait()
            self._wake.clear()
            await self._copy()

    async def _copy(self) -> None:
        try:
            await copy_pending(self.db, self.directory)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the DB rows are safe; the next sweep retries
            # The error's class and errno only: never a row, a reason or a name (LOG-02).
            log.error("audit copy failed (%s, errno %s); will retry", type(exc).__name__, getattr(exc, "errno", None))


# --- Verification ---------------------------------------------------------------------------------


@dataclass
class CopyReport:
    rows_in_copy: int = 0
    rows_in_db: int = 0
    not_yet_copied: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _load_copy(directory: Path, report: CopyReport) -> dict[int, dict[int, dict[str, Any]]]:
    """The copy's rows by clinic and seq, each line checked against its own hash."""
    rows: dict[int, dict[int, dict[str, Any]]] = {}
    if not directory.is_dir():
        return rows
    for path in sorted(directory.glob(f"{FILE_PREFIX}*{FILE_SUFFIX}")):
        with open(path, encoding="ascii", errors="replace") as handle:
            for number, text in enumerate(handle, start=1):
                where = f"{path.name} line {number}"
                try:
                    line = json.loads(text)
                    clinic, seq = int(line["clinic_id"]), int(line["seq"])
                    stated, prev = str(line["row_hash"]), str(line["prev_hash"])
                except (ValueError, KeyError, TypeError):
                    report.problems.append(f"{where}: not a readable audit line")
                    continue
                report.rows_in_copy += 1
                if audit.hash_of(line, prev) != stated:
                    report.problems.append(f"{where}: clinic {clinic} seq {seq}: contents do not match its hash")
                seen = rows.setdefault(clinic, {}).get(seq)
                if seen is not None and seen != line:
                    report.problems.append(f"{where}: clinic {clinic} seq {seq}: copied twice, differently")
                rows[clinic].setdefault(seq, line)
    return rows


def _check_copy_chain(clinic: int, lines: dict[int, dict[str, Any]], report: CopyReport) -> None:
    prev = audit.GENESIS
    for expected, seq in enumerate(sorted(lines), start=1):
        if seq != expected:
            report.problems.append(f"copy: clinic {clinic}: seq {expected} missing (next line is seq {seq})")
            return
        if lines[seq]["prev_hash"] != prev:
            report.problems.append(f"copy: clinic {clinic} seq {seq}: prev_hash does not match the line before")
        prev = lines[seq]["row_hash"]


async def verify_copy(
    session: AsyncSession, directory: Path, *, grace: timedelta = COPY_GRACE, now: datetime | None = None
) -> CopyReport:
    """Check the copy on its own (hashes, chain) and against the database, row by row.

    A database row missing from the copy is a problem when the mark says it was copied, or when it
    is older than ``grace`` (a copy deleted wholesale, or no copier running); newer ones are only
    "not yet copied".
    """
    report = CopyReport()
    oldest_pending = (now or utcnow()) - grace
    copy = await asyncio.to_thread(_load_copy, directory, report)
    mark = await asyncio.to_thread(read_mark, directory)
    clinics = set(copy) | set((await session.execute(select(AuditEvent.clinic_id).distinct())).scalars())
    for clinic in sorted(clinics):
        lines = copy.get(clinic, {})
        _check_copy_chain(clinic, lines, report)
        in_db: set[int] = set()
        rows = (
            await session.execute(select(AuditEvent).where(AuditEvent.clinic_id == clinic).order_by(AuditEvent.seq))
        ).scalars()
        for row in rows:
            report.rows_in_db += 1
            in_db.add(row.seq)
            line = lines.get(row.seq)
            if line is None:
                if row.seq <= mark.get(clinic, 0):
                    report.problems.append(f"clinic {clinic} seq {row.seq}: in the database but missing from the copy")
                elif row.at < oldest_pending:
                    report.problems.append(
                        f"clinic {clinic} seq {row.seq}: not copied after {int(grace.total_seconds() // 60)} minutes "
                        "(copy missing, or no copier running: see `companion audit copy`)"
                    )
                else:
                    report.not_yet_copied += 1
            elif line != line_of(row):
                report.problems.append(f"clinic {clinic} seq {row.seq}: the database row and the copy differ")
        for seq in sorted(set(lines) - in_db):
            report.problems.append(f"clinic {clinic} seq {seq}: in the copy but not in the database")
    return report


async def verify_all(
    db: Database, directory: Path, echo: Callable[[str], None], *, grace: timedelta = COPY_GRACE
) -> bool:
    """``companion audit verify``: every clinic's chain in the database, then the copy against it."""
    ok = True
    async with db.reading() as session:
        clinic_ids = list((await session.execute(select(AuditEvent.clinic_id).distinct())).scalars())
        for clinic_id in sorted(clinic_ids):
            chain = await audit.verify_chain(session, clinic_id)
            if chain.ok:
                echo(f"database chain, clinic {clinic_id}: ok ({chain.rows} rows)")
            else:
                ok = False
                _echo_problems(echo, f"database chain, clinic {clinic_id}: BROKEN, first problem:", chain.problems)
        report = await verify_copy(session, directory, grace=grace)
    pending = f", {report.not_yet_copied} not yet copied" if report.not_yet_copied else ""
    if report.ok:
        echo(f"copy {directory}: matches the database ({report.rows_in_copy} lines{pending})")
    else:
        ok = False
        _echo_problems(echo, f"copy {directory}: MISMATCH, first:", report.problems)
    return ok


def _echo_problems(echo: Callable[[str], None], headline: str, problems: Sequence[str], shown: int = 20) -> None:
    echo(f"{headline} {problems[0]}")
    for problem in problems[1:shown]:
        echo(f"  also: {problem}")
    if len(problems) > shown:
        echo(f"  ... and {len(problems) - shown} more")
