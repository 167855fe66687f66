"""LOG-03: every audit row is also appended to a separate store (JSON lines per day), after the
commit; `companion audit verify` checks the database chain and that the copy matches it."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from companion.app import create_app
from companion.clinic import audit, audit_copy
from companion.db import Database, utcnow
from companion.migrations import upgrade
from tests.browser_client import AppClient
from tests.clinic.helpers import as_superuser, audit_rows
from tests.conftest import make_settings

COMPANION = str(Path(sys.executable).parent / "companion")


def copy_lines(directory: Path) -> list[dict]:
    lines = []
    for path in sorted(directory.glob("audit-*.jsonl")):
        lines += [json.loads(text) for text in path.read_text().splitlines()]
    return lines


async def wait_for_lines(directory: Path, count: int) -> list[dict]:
    for _ in range(100):
        lines = copy_lines(directory)
        if len(lines) >= count:
            return lines
        await asyncio.sleep(0.05)
    return copy_lines(directory)


async def views(client_factory, personas, count: int) -> None:
    async with client_factory() as carol:
        await carol.login(personas.carol)
        for _ in range(count):
            assert (await carol.get(f"/clinic/patients/{personas.alice.patient_code}")).status_code == 200


async def verify(db, directory: Path) -> tuple[bool, list[str]]:
    said: list[str] = []
    ok = await audit_copy.verify_all(db, directory, said.append)
    return ok, said


async def test_each_audit_row_is_copied_after_commit_with_its_hashes(client_factory, personas, db, settings):
    directory = settings.audit.copy_dir
    async with client_factory() as carol:
        await carol.login(personas.carol)
        for n in range(1, 4):
            assert (await carol.get(f"/clinic/patients/{personas.alice.patient_code}")).status_code == 200
            assert len(await wait_for_lines(directory, n)) == n  # copied while the app runs, not at shutdown
    rows = await audit_rows(db)
    lines = copy_lines(directory)
    assert [(line["seq"], line["row_hash"], line["prev_hash"]) for line in lines] == [
        (r.seq, r.row_hash, r.prev_hash) for r in rows
    ]
    assert lines == [audit_copy.line_of(r) for r in rows]
    # The chain can be checked from the copy alone.
    for line in lines:
        assert audit.hash_of(line, line["prev_hash"]) == line["row_hash"]
    assert [p.name for p in directory.glob("audit-*.jsonl")] == [f"audit-{lines[0]['at'][:10]}.jsonl"]
    assert audit_copy.read_mark(directory) == {personas.north_id: len(rows)}
    ok, said = await verify(db, directory)
    assert ok, said


async def test_verify_reports_an_edited_or_missing_copy_line(client_factory, personas, db, settings):
    directory = settings.audit.copy_dir
    await views(client_factory, personas, 3)
    await wait_for_lines(directory, 3)
    (path,) = directory.glob("audit-*.jsonl")
    original = path.read_text()
    lines = original.splitlines(keepends=True)

    path.write_text(original.replace("view_record", "view_alert", 1))
    ok, said = await verify(db, directory)
    text = "\n".join(said)
    assert (
        not ok
        and "MISMATCH, first: audit-" in text
        and "line 1: clinic 1 seq 1: contents do not match its hash" in text
    )

    path.write_text("".join(lines[:1] + lines[2:]))  # drop seq 2
    ok, said = await verify(db, directory)
    text = "\n".join(said)
    assert not ok and "seq 2: in the database but missing from the copy" in text

    path.write_text("".join(lines[:-1]))  # drop the newest line: the mark still says it was copied
    ok, said = await verify(db, directory)
    assert not ok and f"seq {len(lines)}: in the database but missing from the copy" in "\n".join(said)

    path.write_text(original)
    assert (await verify(db, directory))[0]


async def test_verify_reports_rows_deleted_or_edited_in_the_database(client_factory, personas, db, settings):
    directory = settings.audit.copy_dir
    await views(client_factory, personas, 3)
    await wait_for_lines(directory, 3)
    # Deleting the newest rows leaves a valid, shorter chain in the database: only the copy shows it.
    await as_superuser(db, "DELETE FROM audit_event WHERE seq = 3")
    ok, said = await verify(db, directory)
    assert not ok and "seq 3: in the copy but not in the database" in "\n".join(said)
    await as_superuser(db, "UPDATE audit_event SET what = 'nothing' WHERE seq = 2")
    ok, said = await verify(db, directory)
    text = "\n".join(said)
    assert "database chain, clinic" in text and "BROKEN" in text
    assert "seq 2: the database row and the copy differ" in text


async def test_a_failed_copy_never_loses_the_row_and_is_repaired_later(client_factory, personas, db, settings, caplog):
    blocked = settings.data_dir / "not-a-directory"
    blocked.write_text("")
    broken = replace(settings, audit=replace(settings.audit, copy_dir=blocked))
    caplog.set_level(logging.ERROR, logger="companion.audit_copy")
    async with AppClient.open(create_app(broken)) as carol:
        await carol.login(personas.carol)
        assert (await carol.get(f"/clinic/patients/{personas.alice.patient_code}")).status_code == 200
        for _ in range(100):
            if caplog.records:
                break
            await asyncio.sleep(0.05)
    assert len(await audit_rows(db)) == 1  # the database row is there
    assert caplog.records and "audit copy failed" in caplog.records[0].getMessage()
    assert "Alice" not in caplog.text and "patient record" not in caplog.text
    # A crash between commit and file write looks the same: the next catch-up copies what is missing.
    directory = settings.audit.copy_dir
    assert await audit_copy.copy_pending(db, directory) == 1
    assert await audit_copy.copy_pending(db, directory) == 0
    assert (await verify(db, directory))[0]


async def test_rows_not_yet_copied_are_not_a_mismatch(personas, db, settings):
    async with db.writing() as session:
        await audit.append(
            session, clinic_id=personas.north_id, actor_id=None, actor_role="system", action="x", what="y"
        )
    ok, said = await verify(db, settings.data_dir / "empty-copy")
    assert ok and "1 not yet copied" in said[-1]
    # ...but a copy deleted wholesale (mark and all) is caught once the rows are older than the grace.
    async with db.reading() as session:
        late = await audit_copy.verify_copy(
            session, settings.data_dir / "empty-copy", now=utcnow() + timedelta(hours=1)
        )
    assert not late.ok and "seq 1: not copied after 10 minutes" in late.problems[0]


def _cli(args: list[str], settings) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "COMPANION_DATABASE_URL": settings.db.url,
        "COMPANION_DATA_DIR": str(settings.data_dir),
        "COMPANION_SECRET_KEY": settings.web.secret_key,
        "COMPANION_AUDIT_COPY_DIR": str(settings.audit.copy_dir),
    }
    return subprocess.run([COMPANION, *args], capture_output=True, text=True, env=env, timeout=60)


async def test_cli_copy_and_verify_exit_codes(personas, db, settings):
    async with db.writing() as session:
        for n in range(3):
            await audit.append(
                session, clinic_id=personas.north_id, actor_id=None, actor_role="system", action="x", what=f"{n}"
            )
    copied = await asyncio.to_thread(_cli, ["audit", "copy"], settings)
    assert copied.returncode == 0 and "Copied 3 audit rows" in copied.stdout, copied.stderr
    good = await asyncio.to_thread(_cli, ["audit", "verify"], settings)
    assert good.returncode == 0 and "matches the database (3 lines)" in good.stdout, good.stdout + good.stderr
    (path,) = settings.audit.copy_dir.glob("audit-*.jsonl")
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + lines[2])
    bad = await asyncio.to_thread(_cli, ["audit", "verify"], settings)
    assert bad.returncode == 1
    assert "MISMATCH, first:" in bad.stdout and "seq 2" in bad.stdout


def test_copy_dir_setting(tmp_path):
    from companion.settings import SettingsError, load_settings

    assert load_settings({}).audit.copy_dir == Path("var/audit")
    assert load_settings({"COMPANION_AUDIT_COPY_DIR": str(tmp_path / "x")}).audit.copy_dir == tmp_path / "x"
    (tmp_path / "file").write_text("")
    try:
        load_settings({"COMPANION_AUDIT_COPY_DIR": str(tmp_path / "file")})
    except SettingsError as exc:
        assert "COMPANION_AUDIT_COPY_DIR" in str(exc)
    else:
        raise AssertionError("a file is not a copy directory")


async def test_the_copier_stops_even_when_woken_as_it_is_cancelled(tmp_path):
    """A wake-up that lands in the same turn of the loop as the shutdown must not swallow the
    cancellation (asyncio.wait_for on Python 3.11 did, and the shutdown then hung). The race is
    in the copier's loop, not the database: one embedded database, waited on until idle."""
    settings = make_settings(f"sqlite:///{tmp_path}/copier.db", tmp_path)
    await asyncio.to_thread(upgrade, settings)  # Alembic runs its own event loop
    db = Database(settings.db)
    try:
        for turns_between in range(6):
            copier = audit_copy.AuditCopier(db, tmp_path / f"copy-{turns_between}", sweep_seconds=30)
            await copier.start()
            await asyncio.sleep(0.2)  # the start-up catch-up (an empty trail) is over: it waits for a wake-up
            copier._wake.set()
            for _ in range(turns_between):
                await asyncio.sleep(0)
            stopping = asyncio.create_task(copier.stop())
            done, _ = await asyncio.wait({stopping}, timeout=5)
            assert stopping in done, f"stop() still waiting after 5 s ({turns_between} turns between)"
            assert copier._task is not None and copier._task.done()
    finally:
        await db.dispose()
