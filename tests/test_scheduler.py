"""The scheduler: APScheduler 3.11, jobs with stable ids and explicit misfire handling; started and
stopped with the app in embedded mode only."""

from __future__ import annotations

from companion.db import Database


async def test_jobs_have_stable_ids_and_explicit_misfire_policy(settings, db):
    from companion.scheduler import MISFIRE_GRACE_SECONDS, Background

    database = Database(settings.db, null_pool=True)
    background = Background(database, settings)
    try:
        jobs = {job.id: job for job in background.scheduler.get_jobs()}
        assert set(jobs) == {"outbox-sweep", "reminder-sweep", "alert-escalation", "missed-checkins", "fading-response"}
        for job in jobs.values():
            assert job.misfire_grace_time == MISFIRE_GRACE_SECONDS and job.coalesce and job.max_instances == 1
        await background.start()
        for name in ("deliver", "reminders", "escalate", "missed_checkins", "fading_response"):
            await getattr(background, name)()  # each job runs cleanly on an empty clinic
    finally:
        await background.stop()
        await database.dispose()
