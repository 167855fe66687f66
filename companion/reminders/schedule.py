"""When a reminder is due: pure next-occurrence maths, no I/O.

A reminder is stored as a local wall time plus an IANA zone name (security.md REL-08); everything
here turns that into UTC instants. An occurrence is identified by (schedule, local date): the sweep
writes its outbox row under that key, so an occurrence is sent at most once whatever the clocks do.

DST rules (REL-08):

- a wall time inside the spring-forward gap fires at the first valid instant after the gap
  (02:30 America/New_York on 2026-03-08 fires at 03:00 EDT, 07:00Z);
- a wall time inside the repeated fall-back hour fires once, at its first reading (fold=0);
- a change of the patient's zone moves future occurrences: compute again with the new zone, passing
  the last occurrence's local date so that no local date is served twice.

Instants taken are timezone-aware datetimes (naive ones are refused: they would silently be read in
the server's zone); instants returned are in UTC. Wall times are naive ``time`` values.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from itertools import takewhile
from math import ceil, floor
from typing import Literal
from zoneinfo import ZoneInfo

CatchUp = Literal["send", "send_late", "missed", "not_due"]

DAILY_GRACE = timedelta(hours=2)
"""How late a daily reminder may still be sent after downtime (issue 4)."""

ON_TIME = timedelta(minutes=5)
"""Lateness that still counts as on time: the sweep runs once a minute and may be a little behind."""

JOURNAL_PROMPT_DAYS = (0, 1, 3, 7)
"""Post-session journal prompts: the same evening, then one, three and seven days later."""

ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, order=True, slots=True)
class Occurrence:
    """One firing of a schedule: the patient's local date (its de-duplication key) and its UTC instant."""

    local_date: date
    due_utc: datetime


# --- Wall time to instant -------------------------------------------------------------------------


def wall_time_to_utc(local_date: date, local_time: time, zone: str) -> datetime:
    """The first instant at which the zone's clocks read ``local_time`` on ``local_date``, in UTC.

    A wall time skipped by a spring-forward gap gives the first valid instant after the gap; a wall
    time read twice in a fall-back overlap gives the first reading.
    """
    tz = ZoneInfo(zone)
    # fold=0 is the first of the two readings of a repeated wall time: the reminder fires at the
    # earlier instant and is never due again an hour later.
    first_reading = datetime.combine(local_date, _wall(local_time), tzinfo=tz).replace(fold=0)
    if _exists(first_reading):
        return first_reading.astimezone(UTC)
    return _end_of_gap(first_reading)


def at_local_time(local_date: date, local_time: time, zone: str) -> Occurrence:
    return Occurrence(local_date, wall_time_to_utc(local_date, local_time, zone))


def local_date_of(instant: datetime, zone: str) -> date:
    return _aware(instant, "instant").astimezone(ZoneInfo(zone)).date()


def _exists(reading: datetime) -> bool:
    """Whether the zone's clocks ever show this wall time (a time in a gap does not survive a round trip)."""
    round_trip = reading.astimezone(UTC).astimezone(reading.tzinfo)
    return round_trip.replace(tzinfo=None) == reading.replace(tzinfo=None)


def _end_of_gap(reading: datetime) -> datetime:
    """The transition instant that skipped ``reading``'s wall time, i.e. the first valid instant after it.

    For a wall time in a gap, PEP 495 applies the offset from before the transition with fold=0 and
    the one from after it with fold=1, so the transition lies between those two instants. zoneinfo
    does not expose transitions, so bisect for it; tz transitions fall on whole seconds.
    """
    before = floor(reading.replace(fold=1).timestamp())
    after = ceil(reading.replace(fold=0).timestamp())
    old_offset = _offset_at(before, reading.tzinfo)
    while after - before > 1:
        middle = (before + after) // 2
        if _offset_at(middle, reading.tzinfo) == old_offset:
            before = middle
        else:
            after = middle
    return datetime.fromtimestamp(after, UTC)


def _offset_at(timestamp: int, tz: tzinfo | None) -> timedelta | None:
    return datetime.fromtimestamp(timestamp, UTC).astimezone(tz).utcoffset()


# --- Recurring occurrences ------------------------------------------------------------------------


def next_occurrence(
    local_time: time,
    zone: str,
    after_utc: datetime,
    *,
    weekdays: frozenset[int] | None = None,
    after_local_date: date | None = None,
) -> Occurrence:
    """The first occurrence due strictly after ``after_utc``.

    ``weekdays`` restricts the schedule to those days (0 = Monday, as ``date.weekday()``); None means
    every day. ``after_local_date`` skips local dates up to and including it.

    The sweep advances a schedule with the occurrence it just handled: ``after_utc=last.due_utc,
    after_local_date=last.local_date``. After a change of zone, the same call with the new zone
    moves future occurrences without serving a local date twice (a westward move repeats part of
    the calendar day) or skipping one.
    """
    _check_weekdays(weekdays)
    _aware(after_utc, "after_utc")
    # Start a day early: where a gap swallows midnight, yesterday's occurrence can fall after the
    # local midnight and so still be ahead of ``after_utc``.
    candidate = local_date_of(after_utc, zone) - ONE_DAY
    while True:
        if _scheduled_on(candidate, weekdays, after_local_date):
            due = wall_time_to_utc(candidate, local_time, zone)
            if due > after_utc:
                return Occurrence(candidate, due)
        candidate += ONE_DAY


def iter_occurrences(
    local_time: time, zone: str, after_utc: datetime, *, weekdays: frozenset[int] | None = None
) -> Iterator[Occurrence]:
    """Every occurrence after ``after_utc``, in order, without end."""
    occurrence = next_occurrence(local_time, zone, after_utc, weekdays=weekdays)
    while True:
        yield occurrence
        occurrence = next_occurrence(
            local_time,
            zone,
            occurrence.due_utc,
            weekdays=weekdays,
            after_local_date=occurrence.local_date,
        )


def occurrences_between(
    local_time: time,
    zone: str,
    start_utc: datetime,
    end_utc: datetime,
    *,
    weekdays: frozenset[int] | None = None,
) -> list[Occurrence]:
    """Every occurrence with ``start_utc < due_utc <= end_utc``.

    A sweep restarting after downtime lists what fell due since its last run (``start_utc``) up to
    now (``end_utc``); the half-open window means adjacent sweeps never list an occurrence twice.
    """
    _aware(end_utc, "end_utc")
    occurrences = iter_occurrences(local_time, zone, start_utc, weekdays=weekdays)
    return list(takewhile(lambda occurrence: occurrence.due_utc <= end_utc, occurrences))


def _scheduled_on(local_date: date, weekdays: frozenset[int] | None, after_local_date: date | None) -> bool:
    if after_local_date is not None and local_date <= after_local_date:
        return False
    return weekdays is None or local_date.weekday() in weekdays


def _check_weekdays(weekdays: frozenset[int] | None) -> None:
    if weekdays is None:
        return
    if not weekdays or not weekdays <= frozenset(range(7)):
        raise ValueError(f"weekdays must be a non-empty subset of 0..6 (Monday=0), got {weekdays!r}")


# --- Quiet hours and pause ------------------------------------------------------------------------


def in_quiet_hours(wall: time, quiet_start: time, quiet_end: time) -> bool:
    """Whether a wall time lies in [quiet_start, quiet_end), a window that may wrap midnight.

    Equal start and end mean no quiet hours (not a 24-hour silence, which would hide every reminder).
    """
    if quiet_start == quiet_end:
        return False
    if quiet_start < quiet_end:
        return quiet_start <= wall < quiet_end
    return wall >= quiet_start or wall < quiet_end


def apply_quiet_hours(due_utc: datetime, zone: str, quiet_start: time, quiet_end: time) -> datetime:
    """``due_utc``, or the end of the quiet hours it falls in (same DST rules as any wall time).

    A moved occurrence keeps its local date, i.e. its de-duplication key.
    """
    local = _aware(due_utc, "due_utc").astimezone(ZoneInfo(zone))
    wall = local.time()
    if not in_quiet_hours(wall, _wall(quiet_start), _wall(quiet_end)):
        return due_utc.astimezone(UTC)
    wraps_past_midnight = quiet_start > quiet_end and wall >= quiet_start
    end_date = local.date() + ONE_DAY if wraps_past_midnight else local.date()
    return _first_reading_not_before(end_date, quiet_end, zone, due_utc)


def _first_reading_not_before(local_date: date, local_time: time, zone: str, earliest: datetime) -> datetime:
    """Like ``wall_time_to_utc``, but never earlier than ``earliest``.

    Only differs inside a fall-back overlap: an instant in the second reading of the repeated hour
    must move to the second reading of the quiet-hours end, not back to the first.
    """
    first = wall_time_to_utc(local_date, local_time, zone)
    if first >= earliest:
        return first
    second = datetime.combine(local_date, _wall(local_time), tzinfo=ZoneInfo(zone)).replace(fold=1)
    return second.astimezone(UTC)


def is_paused(local_date: date, paused_until: date | None) -> bool:
    """Whether reminders are paused on ``local_date``: the pause includes its last day."""
    return paused_until is not None and local_date <= paused_until


# --- Session reminders (one-off offsets) ----------------------------------------------------------


def day_before_at(session_start_utc: datetime, zone: str, local_time: time) -> Occurrence:
    """Session prep: the day before the session's local date, at the patient's reminder time."""
    return at_local_time(local_date_of(session_start_utc, zone) - ONE_DAY, local_time, zone)


def hours_before(session_start_utc: datetime, hours: float) -> datetime:
    """Elapsed time, not wall time: two hours before a session stays two real hours across a DST change."""
    return _aware(session_start_utc, "session_start_utc").astimezone(UTC) - timedelta(hours=hours)


def journal_prompt_times(session_start_utc: datetime, zone: str, evening_time: time) -> tuple[Occurrence, ...]:
    """Post-session journal prompts at ``evening_time``: same evening, +1, +3 and +7 days.

    A session starting after the evening time has no same-evening prompt (it would come before the
    session); the next day's prompt follows as usual.
    """
    session_date = local_date_of(session_start_utc, zone)
    prompts = (at_local_time(session_date + timedelta(days=days), evening_time, zone) for days in JOURNAL_PROMPT_DAYS)
    return tuple(prompt for prompt in prompts if prompt.due_utc > session_start_utc)


def next_day_at(session_start_utc: datetime, zone: str, local_time: time) -> Occurrence:
    """The side-effect check: the day after the session's local date, at ``local_time``."""
    return at_local_time(local_date_of(session_start_utc, zone) + ONE_DAY, local_time, zone)


# --- Downtime catch-up ----------------------------------------------------------------------------


def catch_up(
    due_utc: datetime,
    now_utc: datetime,
    grace: timedelta = DAILY_GRACE,
    *,
    on_time: timedelta = ON_TIME,
) -> CatchUp:
    """What a sweep running at ``now_utc`` does with an occurrence due at ``due_utc``.

    ``not_due`` before it is due; ``send`` up to ``on_time`` late; ``send_late`` (sent once, recorded
    as late) while late by less than ``grace``; ``missed`` (recorded, never sent) after that, because
    a burst of stale reminders after downtime helps nobody.
    """
    if grace <= timedelta(0):
        raise ValueError("grace must be positive")
    lateness = _aware(now_utc, "now_utc") - _aware(due_utc, "due_utc")
    if lateness < timedelta(0):
        return "not_due"
    if lateness >= grace:
        return "missed"
    return "send" if lateness <= on_time else "send_late"


def catch_up_plan(
    occurrences: Iterable[Occurrence], now_utc: datetime, grace: timedelta = DAILY_GRACE
) -> list[tuple[Occurrence, CatchUp]]:
    """``catch_up`` for each occurrence, sending at most one: the newest sendable one.

    With a schedule denser than its grace window, several occurrences could still be within grace;
    older ones are then recorded as missed so a restart never sends a burst.
    """
    plan = [(occurrence, catch_up(occurrence.due_utc, now_utc, grace)) for occurrence in sorted(occurrences)]
    sendable = [index for index, (_, verdict) in enumerate(plan) if verdict in ("send", "send_late")]
    for index in sendable[:-1]:
        plan[index] = (plan[index][0], "missed")
    return plan


# --- Input checks ---------------------------------------------------------------------------------


def _aware(instant: datetime, name: str) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {instant!r}")
    return instant


def _wall(local_time: time) -> time:
    if local_time.tzinfo is not None:
        raise ValueError(f"a reminder time is a wall time without a zone, got {local_time!r}")
    return local_time.replace(fold=0)
