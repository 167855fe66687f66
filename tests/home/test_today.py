"""The patient's Today page: streak and mood strip from their own history."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from companion.checkins.models import CheckIn
from companion.db import utcnow
from companion.home.service import streak_length


def test_streak_counts_back_from_today_or_yesterday():
    today = utcnow().date()
    days = {today - timedelta(days=n) for n in range(1, 5)}
    assert streak_length(days, today) == 4
    assert streak_length(days | {today}, today) == 5
    assert streak_length({today - timedelta(days=3)}, today) == 0


async def test_long_streak_is_not_cut_at_the_strip(client, personas, db):
    today = utcnow().astimezone(ZoneInfo("America/New_York")).date()
    async with db.writing() as session:
        for n in range(120):
            session.add(
                CheckIn(
                    clinic_id=personas.alice.clinic_id,
                    patient_id=personas.alice.patient_id,
                    local_date=today - timedelta(days=n),
                    timezone="America/New_York",
                    mood=5,
                    anxiety=5,
                    energy=5,
                    safety="none",
                    created_by_id=personas.alice.user_id,
                    created_at=utcnow() - timedelta(days=n),
                )
            )
    await client.login(personas.alice)
    page = await client.get("/today")
    assert "120 days in a row" in page.text


@pytest.mark.parametrize("length", [1, 12, 13, 14, 15, 16])
async def test_streaks_around_the_strip_edge_are_exact(client, personas, db, length):
    """The streak is counted from the strip's days when it ends inside them, from all days otherwise."""
    today = utcnow().astimezone(ZoneInfo("America/New_York")).date()
    days = [today - timedelta(days=n) for n in range(1, length + 1)] + [today - timedelta(days=length + 2)]
    async with db.writing() as session:
        for day in days:
            session.add(
                CheckIn(clinic_id=personas.alice.clinic_id, patient_id=personas.alice.patient_id, local_date=day,
                        timezone="America/New_York", mood=5, anxiety=5, energy=5, safety="none",
                        created_by_id=personas.alice.user_id, created_at=utcnow())
            )
    await client.login(personas.alice)
    page = await client.get("/today")
    assert f"{length} day{'s' if length > 1 else ''} in a row" in page.text
