"""Next-occurrence maths: DST gaps and overlaps, odd offsets, zone moves, quiet hours, catch-up.

The clock is controlled by passing plain UTC datetimes; nothing sleeps. Expected instants come either
from hand-checked tables or from a brute-force oracle (``first_minute_clock_reads``) that walks the
zone's clock minute by minute and shares no code with the module under test.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise, takewhile
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from companion.reminders.schedule import (
    DAILY_GRACE,
    Occurrence,
    apply_quiet_hours,
    catch_up,
    catch_up_plan,
    day_before_at,
    hours_before,
    in_quiet_hours,
    is_paused,
    iter_occurrences,
    journal_prompt_times,
    next_day_at,
    next_occurrence,
    occurrences_between,
    wall_time_to_utc,
)

NEW_YORK = "America/New_York"
LONDON = "Europe/London"
LORD_HOWE = "Australia/Lord_Howe"  # DST shifts by 30 minutes
KATHMANDU = "Asia/Kathmandu"  # +05:45, no DST
SANTIAGO = "America/Santiago"  # transitions at local midnight
CHATHAM = "Pacific/Chatham"  # +12:45 / +13:45

YEAR_ZONES = (NEW_YORK, LONDON, LORD_HOWE, KATHMANDU, SANTIAGO, CHATHAM, "UTC")
# Every DST gap and overlap of YEAR_ZONES in 2026 sits between 23:00 and 04:00 local; these wall
# times land before, inside and after each of them.
YEAR_WALL_TIMES = tuple(
    time(h, m)
    for h, m in [(0, 0), (0, 30), (0, 59), (1, 0), (1, 30), (1, 45), (2, 0), (2, 15), (2, 30),
                 (2, 45), (2, 59), (3, 0), (3, 30), (8, 0), (12, 0), (23, 0), (23, 30), (23, 59)]
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(zone: str, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone), fold=fold)


def wall_of(instant: datetime, zone: str) -> datetime:
    return instant.astimezone(ZoneInfo(zone)).replace(tzinfo=None, fold=0)


def first_minute_clock_reads(local_date: date, wall: time, zone: str) -> datetime:
    """Oracle: the first whole UTC minute at which the zone's clock reads ``local_date wall`` or later.

    That single definition is the REL-08 rule: a skipped wall time gives the end of the gap, a
    repeated one its first reading. The answer lies in [target - largest offset, target - smallest
    offset] for the offsets in force around that day, so only that window is walked.
    """
    target = datetime.combine(local_date, wall)
    probe = target.replace(tzinfo=UTC)
    offsets = {wall_of(probe + timedelta(hours=h), zone) - (probe + timedelta(hours=h)).replace(tzinfo=None)
               for h in range(-48, 49, 6)}
    minute = probe - max(offsets)
    while minute <= probe - min(offsets):
        if wall_of(minute, zone) >= target:
            return minute
        minute += timedelta(minutes=1)
    raise AssertionError(f"the clock of {zone} never reads {target}")


def dates_of_year(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=n) for n in range((date(year + 1, 1, 1) - first).days)]


def occurrences_of_year(wall: time, zone: str, year: int) -> list[Occurrence]:
    start = wall_time_to_utc(date(year, 1, 1), time(0), zone) - timedelta(days=1)
    found = []
    for occurrence in iter_occurrences(wall, zone, start):
        if occurrence.local_date.year > year:
            return found
        if occurrence.local_date.year == year:
            found.append(occurrence)
    raise AssertionError("unreachable")


# --- Named DST days ---------------------------------------------------------------------------------

NAMED_DAYS = [
    # zone, local date, wall time, expected due (UTC), why
    (NEW_YORK, date(2026, 3, 8), time(2, 30), utc(2026, 3, 8, 7, 0), "gap: 03:00 EDT"),
    (NEW_YORK, date(2026, 3, 8), time(2, 0), utc(2026, 3, 8, 7, 0), "gap start: 03:00 EDT"),
    (NEW_YORK, date(2026, 3, 8), time(1, 59), utc(2026, 3, 8, 6, 59), "just before gap: EST"),
    (NEW_YORK, date(2026, 3, 8), time(3, 0), utc(2026, 3, 8, 7, 0), "gap end: EDT"),
    (NEW_YORK, date(2026, 11, 1), time(1, 30), utc(2026, 11, 1, 5, 30), "overlap: first, EDT"),
    (NEW_YORK, date(2026, 11, 1), time(1, 0), utc(2026, 11, 1, 5, 0), "overlap start: EDT"),
    (NEW_YORK, date(2026, 11, 1), time(2, 0), utc(2026, 11, 1, 7, 0), "after overlap: EST"),
    (LONDON, date(2026, 3, 29), time(1, 30), utc(2026, 3, 29, 1, 0), "gap: 02:00 BST"),
    (LONDON, date(2026, 10, 25), time(1, 30), utc(2026, 10, 25, 0, 30), "overlap: first, BST"),
    (LORD_HOWE, date(2026, 10, 4), time(2, 15), utc(2026, 10, 3, 15, 30), "30-min gap: 02:30 +11"),
    (LORD_HOWE, date(2026, 10, 4), time(2, 30), utc(2026, 10, 3, 15, 30), "gap end: +11"),
    (LORD_HOWE, date(2026, 4, 5), time(1, 45), utc(2026, 4, 4, 14, 45), "30-min overlap: first, +11"),
    (LORD_HOWE, date(2026, 4, 5), time(2, 0), utc(2026, 4, 4, 15, 30), "after overlap: +10:30"),
    (KATHMANDU, date(2026, 6, 1), time(9, 0), utc(2026, 6, 1, 3, 15), "+05:45"),
    (KATHMANDU, date(2026, 6, 1), time(3, 0), utc(2026, 5, 31, 21, 15), "+05:45, previous UTC day"),
    (SANTIAGO, date(2026, 9, 6), time(0, 30), utc(2026, 9, 6, 4, 0), "midnight gap: 01:00 -03"),
    (SANTIAGO, date(2026, 9, 6), time(0, 0), utc(2026, 9, 6, 4, 0), "midnight itself skipped"),
    (SANTIAGO, date(2026, 4, 4), time(23, 30), utc(2026, 4, 5, 2, 30), "overlap before midnight: -03"),
    (CHATHAM, date(2026, 9, 27), time(3, 0), utc(2026, 9, 26, 14, 0), "gap: 03:45 +13:45"),
]


@pytest.mark.parametrize(("zone", "local_date", "wall", "expected", "why"), NAMED_DAYS)
def test_wall_time_on_dst_days(zone: str, local_date: date, wall: time, expected: datetime, why: str) -> None:
    assert wall_time_to_utc(local_date, wall, zone) == expected, why
    assert first_minute_clock_reads(local_date, wall, zone) == expected, "oracle agrees"


@pytest.mark.parametrize(("zone", "local_date", "wall", "expected", "why"), NAMED_DAYS)
def test_exactly_one_occurrence_on_dst_days(
    zone: str, local_date: date, wall: time, expected: datetime, why: str
) -> None:
    day_before = wall_time_to_utc(local_date - timedelta(days=1), time(12), zone)
    day_after = wall_time_to_utc(local_date + timedelta(days=1), time(12), zone)

    found = occurrences_between(wall, zone, day_before, day_after)

    assert [o for o in found if o.local_date == local_date] == [Occurrence(local_date, expected)], why
    assert len(found) == 2, "one on the DST day, one the next day; never a second firing an hour later"


def test_new_york_spring_forward_reminder_fires_at_three_edt() -> None:
    occurrence = next_occurrence(time(2, 30), NEW_YORK, utc(2026, 3, 7, 12))

    assert occurrence == Occurrence(date(2026, 3, 8), utc(2026, 3, 8, 7))
    assert occurrence.due_utc.astimezone(ZoneInfo(NEW_YORK)).time() == time(3, 0)


def test_new_york_fall_back_reminder_fires_once_at_first_reading() -> None:
    first = next_occurrence(time(1, 30), NEW_YORK, utc(2026, 10, 31, 12))
    after_first = next_occurrence(time(1, 30), NEW_YORK, first.due_utc)

    # (Compared in UTC: PEP 495 makes an ambiguous local time unequal to every instant in another zone.)
    assert first == Occurrence(date(2026, 11, 1), local(NEW_YORK, 2026, 11, 1, 1, 30, fold=0).astimezone(UTC))
    assert first.due_utc == utc(2026, 11, 1, 5, 30)
    # The second reading of 01:30 (06:30Z) is not an occurrence: the next one is the following day.
    assert after_first == Occurrence(date(2026, 11, 2), utc(2026, 11, 2, 6, 30))


# --- A whole year, day by day -----------------------------------------------------------------------


@pytest.mark.parametrize("zone", YEAR_ZONES)
@pytest.mark.parametrize("wall", YEAR_WALL_TIMES, ids=str)
def test_a_year_of_daily_occurrences_none_missed_doubled_or_off(zone: str, wall: time) -> None:
    occurrences = occurrences_of_year(wall, zone, 2026)

    assert [o.local_date for o in occurrences] == dates_of_year(2026), "one per local date, none missed"
    off = [o for o in occurrences if o.due_utc != first_minute_clock_reads(o.local_date, wall, zone)]
    assert off == []
    assert all(a.due_utc < b.due_utc for a, b in pairwise(occurrences))


@pytest.mark.parametrize(
    ("zone", "wall", "shifted_days"),
    [
        (NEW_YORK, time(2, 30), {date(2026, 3, 8): time(3, 0)}),
        (LONDON, time(1, 0), {date(2026, 3, 29): time(2, 0)}),
        (LORD_HOWE, time(2, 15), {date(2026, 10, 4): time(2, 30)}),
        (SANTIAGO, time(0, 0), {date(2026, 9, 6): time(1, 0)}),
        (NEW_YORK, time(1, 30), {}),
        (KATHMANDU, time(2, 30), {}),
    ],
)
def test_a_year_of_wall_times_only_gap_days_move(zone: str, wall: time, shifted_days: dict) -> None:
    occurrences = occurrences_of_year(wall, zone, 2026)

    walls = {o.local_date: o.due_utc.astimezone(ZoneInfo(zone)).time() for o in occurrences}
    moved = {day: shown for day, shown in walls.items() if shown != wall}
    assert moved == shifted_days


@pytest.mark.parametrize("zone", YEAR_ZONES)
@pytest.mark.parametrize("wall", [time(0, 30), time(1, 30), time(2, 30), time(23, 30)], ids=str)
def test_a_sweeping_clock_fires_each_occurrence_exactly_once(zone: str, wall: time) -> None:
    """A sweep whose clock advances in uneven steps lists each occurrence once, in the tick it fell due."""
    clock = utc(2025, 12, 30)
    fired: list[Occurrence] = []
    while clock < utc(2027, 1, 2):
        tick = clock + timedelta(hours=5, minutes=13)
        fired.extend(occurrences_between(wall, zone, clock, tick))
        clock = tick

    dates = [o.local_date for o in fired if o.local_date.year == 2026]
    assert dates == dates_of_year(2026)
    assert all(o.due_utc == first_minute_clock_reads(o.local_date, wall, zone) for o in fired)


# --- Moving zone ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("home", "destination", "wall", "move_day"),
    [
        (NEW_YORK, LONDON, time(8), date(2026, 6, 10)),
        (LONDON, NEW_YORK, time(8), date(2026, 6, 10)),
        ("America/Los_Angeles", "Asia/Tokyo", time(8), date(2026, 7, 1)),
        ("Asia/Tokyo", "America/Los_Angeles", time(8), date(2026, 7, 1)),
        (KATHMANDU, LORD_HOWE, time(21, 30), date(2026, 10, 3)),
        (SANTIAGO, NEW_YORK, time(0, 30), date(2026, 9, 5)),
        (NEW_YORK, LONDON, time(2, 30), date(2026, 3, 7)),
        (LONDON, NEW_YORK, time(1, 30), date(2026, 10, 31)),
    ],
)
def test_moving_zone_keeps_one_occurrence_per_local_date(
    home: str, destination: str, wall: time, move_day: date
) -> None:
    """The patient moves right after an occurrence; future occurrences follow the new zone."""
    start = wall_time_to_utc(move_day - timedelta(days=5), time(0), home)
    before_move = list(takewhile(lambda o: o.local_date <= move_day, iter_occurrences(wall, home, start)))
    last = before_move[-1]
    after_move = [
        occurrence
        for occurrence in takewhile(
            lambda o: o.local_date <= move_day + timedelta(days=10),
            iter_occurrences(wall, destination, last.due_utc),
        )
        if occurrence.local_date > last.local_date  # the sweep's key (schedule, local date) skips these
    ]
    direct = next_occurrence(wall, destination, last.due_utc, after_local_date=last.local_date)

    timeline = before_move + after_move
    assert direct == after_move[0]
    dates = [o.local_date for o in timeline]
    assert dates == [dates[0] + timedelta(days=n) for n in range(len(dates))], "none missed or doubled"
    assert all(a.due_utc < b.due_utc for a, b in pairwise(timeline))
    assert all(o.due_utc == first_minute_clock_reads(o.local_date, wall, home) for o in before_move)
    assert all(o.due_utc == first_minute_clock_reads(o.local_date, wall, destination) for o in after_move)


def test_moving_zone_moves_the_next_occurrence() -> None:
    last = next_occurrence(time(8), NEW_YORK, utc(2026, 6, 9, 18))

    in_new_york = next_occurrence(time(8), NEW_YORK, last.due_utc, after_local_date=last.local_date)
    in_london = next_occurrence(time(8), LONDON, last.due_utc, after_local_date=last.local_date)

    assert last == Occurrence(date(2026, 6, 10), utc(2026, 6, 10, 12))
    assert in_new_york == Occurrence(date(2026, 6, 11), utc(2026, 6, 11, 12))
    assert in_london == Occurrence(date(2026, 6, 11), utc(2026, 6, 11, 7))


# --- Weekdays and input checks ----------------------------------------------------------------------


def test_weekdays_skip_other_days() -> None:
    monday_wednesday_friday = frozenset({0, 2, 4})
    saturday_noon = utc(2026, 3, 7, 12)

    found = occurrences_between(time(9), LONDON, saturday_noon, utc(2026, 3, 14), weekdays=monday_wednesday_friday)

    assert [o.local_date for o in found] == [date(2026, 3, 9), date(2026, 3, 11), date(2026, 3, 13)]
    assert next_occurrence(time(9), LONDON, saturday_noon, weekdays=monday_wednesday_friday) == found[0]


def test_weekdays_over_a_window() -> None:
    found = occurrences_between(time(9), NEW_YORK, utc(2026, 3, 1), utc(2026, 3, 15), weekdays=frozenset({6}))

    assert found == [
        Occurrence(date(2026, 3, 1), utc(2026, 3, 1, 14)),
        Occurrence(date(2026, 3, 8), utc(2026, 3, 8, 13)),  # EDT from this Sunday
    ]


@pytest.mark.parametrize("weekdays", [frozenset(), frozenset({7}), frozenset({-1, 2})])
def test_invalid_weekdays_are_refused(weekdays: frozenset[int]) -> None:
    with pytest.raises(ValueError, match="weekdays"):
        next_occurrence(time(9), LONDON, utc(2026, 1, 1), weekdays=weekdays)


def test_naive_instants_and_zoned_wall_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_occurrence(time(9), LONDON, datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="wall time"):
        next_occurrence(time(9, tzinfo=UTC), LONDON, utc(2026, 1, 1))
    with pytest.raises(zoneinfo.ZoneInfoNotFoundError):
        next_occurrence(time(9), "Mars/Olympus_Mons", utc(2026, 1, 1))


def test_occurrence_is_strictly_after_the_given_instant() -> None:
    due = utc(2026, 1, 5, 9)

    assert next_occurrence(time(9), "UTC", due - timedelta(microseconds=1)).due_utc == due
    assert next_occurrence(time(9), "UTC", due).due_utc == due + timedelta(days=1)


# --- Properties -------------------------------------------------------------------------------------

ALL_ZONES = sorted(zoneinfo.available_timezones())
instants = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC))
wall_times = st.times()
zones = st.sampled_from(ALL_ZONES)


@settings(deadline=None, max_examples=300)
@given(wall=wall_times, zone=zones, after=instants)
def test_property_occurrence_is_the_first_one_after(wall: time, zone: str, after: datetime) -> None:
    occurrence = next_occurrence(wall, zone, after)

    assert occurrence.due_utc > after
    previous_day = wall_time_to_utc(occurrence.local_date - timedelta(days=1), wall, zone)
    assert previous_day <= after, "an earlier occurrence was still ahead: it would be missed"


@settings(deadline=None, max_examples=300)
@given(wall=wall_times, zone=zones, after=instants)
def test_property_occurrences_increase_one_per_local_date(wall: time, zone: str, after: datetime) -> None:
    occurrences = []
    for occurrence in iter_occurrences(wall, zone, after):
        occurrences.append(occurrence)
        if len(occurrences) == 8:
            break

    assert all(a.due_utc < b.due_utc for a, b in pairwise(occurrences))
    assert all(b.local_date - a.local_date == timedelta(days=1) for a, b in pairwise(occurrences))


@settings(deadline=None, max_examples=300)
@given(wall=wall_times, zone=zones, day=st.dates(min_value=date(1971, 1, 2), max_value=date(2098, 12, 30)))
def test_property_due_is_first_instant_clock_reads_the_wall_time(wall: time, zone: str, day: date) -> None:
    """The zone's clock reaches the wall time at ``due`` and at no earlier instant nearby."""
    target = datetime.combine(day, wall)
    due = wall_time_to_utc(day, wall, zone)

    assert wall_of(due, zone) >= target
    assert wall_of(due - timedelta(seconds=1), zone) < target
    for quarter in range(1, 13):  # the previous three hours cover any repeated hour
        assert wall_of(due - timedelta(minutes=15 * quarter), zone) < target
    if wall_of(due, zone) != target:  # only a gap may move the time, and it jumps over the target
        assert wall_of(due, zone) - wall_of(due - timedelta(seconds=1), zone) > timedelta(seconds=1)


@settings(deadline=None, max_examples=200)
@given(wall=wall_times, zone=zones, start=instants, first=st.timedeltas(timedelta(0), timedelta(days=5)),
       second=st.timedeltas(timedelta(0), timedelta(days=5)))
def test_property_adjacent_windows_list_each_occurrence_once(
    wall: time, zone: str, start: datetime, first: timedelta, second: timedelta
) -> None:
    middle, end = start + first, start + first + second

    split = occurrences_between(wall, zone, start, middle) + occurrences_between(wall, zone, middle, end)

    assert split == occurrences_between(wall, zone, start, end)


# --- Quiet hours and pause --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wall", "start", "end", "quiet"),
    [
        (time(23, 0), time(22), time(7), True),
        (time(22, 0), time(22), time(7), True),
        (time(0, 0), time(22), time(7), True),
        (time(6, 59), time(22), time(7), True),
        (time(7, 0), time(22), time(7), False),
        (time(21, 59), time(22), time(7), False),
        (time(12, 0), time(22), time(7), False),
        (time(13, 0), time(13), time(15), True),
        (time(14, 59), time(13), time(15), True),
        (time(15, 0), time(13), time(15), False),
        (time(12, 59), time(13), time(15), False),
        (time(3, 0), time(9), time(9), False),
    ],
)
def test_in_quiet_hours(wall: time, start: time, end: time, quiet: bool) -> None:
    assert in_quiet_hours(wall, start, end) is quiet


@pytest.mark.parametrize(
    ("zone", "due", "start", "end", "expected", "why"),
    [
        (LONDON, utc(2026, 1, 10, 23, 30), time(22), time(7), utc(2026, 1, 11, 7), "wraps: next morning"),
        (LONDON, utc(2026, 1, 10, 6, 59), time(22), time(7), utc(2026, 1, 10, 7), "wraps: same morning"),
        (LONDON, utc(2026, 1, 10, 7, 0), time(22), time(7), utc(2026, 1, 10, 7), "end is not quiet"),
        (LONDON, utc(2026, 1, 10, 21, 59), time(22), time(7), utc(2026, 1, 10, 21, 59), "before start"),
        (LONDON, utc(2026, 1, 10, 14), time(13), time(15), utc(2026, 1, 10, 15), "afternoon window"),
        (LONDON, utc(2026, 1, 10, 14), time(9), time(9), utc(2026, 1, 10, 14), "empty window"),
        (KATHMANDU, utc(2026, 1, 10, 17, 0), time(22), time(7), utc(2026, 1, 11, 1, 15), "22:45 +05:45 -> 07:00"),
        (NEW_YORK, utc(2026, 3, 8, 4), time(22), time(2, 30), utc(2026, 3, 8, 7), "end in gap -> 03:00 EDT"),
        (NEW_YORK, utc(2026, 11, 1, 4, 30), time(22), time(1, 30), utc(2026, 11, 1, 5, 30), "first 01:30"),
        (NEW_YORK, utc(2026, 11, 1, 6, 15), time(22), time(1, 30), utc(2026, 11, 1, 6, 30),
         "01:15 EST (second reading) waits for the second 01:30, never goes back in time"),
        (LORD_HOWE, utc(2026, 10, 3, 12), time(22), time(2, 15), utc(2026, 10, 3, 15, 30), "30-min gap"),
    ],
)
def test_apply_quiet_hours(
    zone: str, due: datetime, start: time, end: time, expected: datetime, why: str
) -> None:
    moved = apply_quiet_hours(due, zone, start, end)

    assert moved == expected, why
    assert moved >= due


@settings(deadline=None, max_examples=300)
@given(zone=zones, due=instants, start=wall_times, end=wall_times)
def test_property_quiet_hours_never_earlier_and_never_quiet(
    zone: str, due: datetime, start: time, end: time
) -> None:
    moved = apply_quiet_hours(due, zone, start, end)

    assert moved >= due
    assert moved - due <= timedelta(days=1, hours=3)
    if moved != due:
        assert in_quiet_hours(wall_of(due, zone).time(), start, end)
        lands_on_end = wall_of(moved, zone).time() == end.replace(fold=0)
        end_was_skipped = wall_of(moved, zone) - wall_of(moved - timedelta(seconds=1), zone) > timedelta(seconds=1)
        assert lands_on_end or end_was_skipped


@pytest.mark.parametrize(
    ("day", "paused_until", "paused"),
    [
        (date(2026, 5, 1), None, False),
        (date(2026, 5, 1), date(2026, 5, 3), True),
        (date(2026, 5, 3), date(2026, 5, 3), True),
        (date(2026, 5, 4), date(2026, 5, 3), False),
        (date(2026, 5, 1), date(2026, 4, 30), False),
    ],
)
def test_is_paused_through_the_last_day(day: date, paused_until: date | None, paused: bool) -> None:
    assert is_paused(day, paused_until) is paused


# --- Session reminders ------------------------------------------------------------------------------


def test_day_before_uses_the_session_local_date_and_dst_rules() -> None:
    session = utc(2026, 3, 9, 14)  # 10:00 EDT, Monday

    assert day_before_at(session, NEW_YORK, time(2, 30)) == Occurrence(date(2026, 3, 8), utc(2026, 3, 8, 7))
    assert day_before_at(session, NEW_YORK, time(18)) == Occurrence(date(2026, 3, 8), utc(2026, 3, 8, 22))


def test_day_before_when_utc_and_local_dates_differ() -> None:
    session = utc(2026, 5, 1, 20)  # 01:45 on 2 May in Kathmandu

    assert day_before_at(session, KATHMANDU, time(19)) == Occurrence(date(2026, 5, 1), utc(2026, 5, 1, 13, 15))
    assert next_day_at(session, KATHMANDU, time(19)) == Occurrence(date(2026, 5, 3), utc(2026, 5, 3, 13, 15))


def test_hours_before_counts_elapsed_time_across_dst() -> None:
    session = local(NEW_YORK, 2026, 3, 8, 9, 0).astimezone(UTC)  # 13:00Z, three hours after the change

    assert hours_before(session, 2) == utc(2026, 3, 8, 11)
    assert hours_before(session, 2).astimezone(ZoneInfo(NEW_YORK)).time() == time(7, 0)


def test_journal_prompts_same_evening_then_one_three_seven_days_across_fall_back() -> None:
    session = utc(2026, 10, 31, 14)  # 10:00 EDT

    prompts = journal_prompt_times(session, NEW_YORK, time(20))

    assert prompts == (
        Occurrence(date(2026, 10, 31), utc(2026, 11, 1, 0)),  # 20:00 EDT
        Occurrence(date(2026, 11, 1), utc(2026, 11, 2, 1)),  # 20:00 EST
        Occurrence(date(2026, 11, 3), utc(2026, 11, 4, 1)),
        Occurrence(date(2026, 11, 7), utc(2026, 11, 8, 1)),
    )


def test_journal_prompts_skip_an_evening_that_precedes_the_session() -> None:
    session = local(LONDON, 2026, 6, 1, 21, 0).astimezone(UTC)

    prompts = journal_prompt_times(session, LONDON, time(20))

    assert [p.local_date for p in prompts] == [date(2026, 6, 2), date(2026, 6, 4), date(2026, 6, 8)]


def test_side_effect_check_is_next_day() -> None:
    session = local(LORD_HOWE, 2026, 10, 3, 11, 0).astimezone(UTC)

    assert next_day_at(session, LORD_HOWE, time(2, 15)) == Occurrence(date(2026, 10, 4), utc(2026, 10, 3, 15, 30))


# --- Downtime catch-up ------------------------------------------------------------------------------

DUE = utc(2026, 4, 1, 9)


@pytest.mark.parametrize(
    ("now", "grace", "verdict"),
    [
        (DUE - timedelta(seconds=1), DAILY_GRACE, "not_due"),
        (DUE, DAILY_GRACE, "send"),
        (DUE + timedelta(minutes=5), DAILY_GRACE, "send"),
        (DUE + timedelta(minutes=5, seconds=1), DAILY_GRACE, "send_late"),
        (DUE + timedelta(hours=1, minutes=59, seconds=59), DAILY_GRACE, "send_late"),
        (DUE + timedelta(hours=2), DAILY_GRACE, "missed"),
        (DUE + timedelta(days=3), DAILY_GRACE, "missed"),
        (DUE + timedelta(minutes=29), timedelta(minutes=30), "send_late"),
        (DUE + timedelta(minutes=30), timedelta(minutes=30), "missed"),
        (DUE + timedelta(minutes=2), timedelta(minutes=1), "missed"),
    ],
)
def test_catch_up_policy(now: datetime, grace: timedelta, verdict: str) -> None:
    assert catch_up(DUE, now, grace) == verdict


def test_catch_up_refuses_naive_instants_and_empty_grace() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        catch_up(DUE, datetime(2026, 4, 1, 10))
    with pytest.raises(ValueError, match="grace"):
        catch_up(DUE, DUE, timedelta(0))


def test_restart_after_three_missed_due_times_applies_the_policy_exactly() -> None:
    """Stopped from before 27 March until 30 March 07:30Z, across London's spring-forward."""
    last_sweep, restart = utc(2026, 3, 27, 7, 0), utc(2026, 3, 30, 7, 30)

    due = occurrences_between(time(8), LONDON, last_sweep, restart)
    plan = catch_up_plan(due, restart)
    again = occurrences_between(time(8), LONDON, restart, restart + timedelta(minutes=1))

    assert [(o.local_date, o.due_utc, verdict) for o, verdict in plan] == [
        (date(2026, 3, 27), utc(2026, 3, 27, 8), "missed"),
        (date(2026, 3, 28), utc(2026, 3, 28, 8), "missed"),
        (date(2026, 3, 29), utc(2026, 3, 29, 7), "missed"),  # BST from this day
        (date(2026, 3, 30), utc(2026, 3, 30, 7), "send_late"),
    ]
    assert again == [], "the next sweep lists none of them again"


def test_restart_long_after_sends_nothing() -> None:
    restart = utc(2026, 3, 31, 12)

    plan = catch_up_plan(occurrences_between(time(8), LONDON, utc(2026, 3, 1), restart), restart)

    assert len(plan) == 31
    assert {verdict for _, verdict in plan} == {"missed"}


def test_catch_up_plan_sends_at_most_the_newest() -> None:
    now = utc(2026, 4, 1, 12)
    dense = [Occurrence(date(2026, 4, 1), now - timedelta(minutes=m)) for m in (100, 70, 40, 10)]

    plan = catch_up_plan(reversed(dense), now)

    assert [verdict for _, verdict in plan] == ["missed", "missed", "missed", "send_late"]
    assert [o for o, _ in plan] == dense
