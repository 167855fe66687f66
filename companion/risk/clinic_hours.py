"""Clinic opening hours in the clinic's IANA time zone, and business-time arithmetic.

Hours are local wall-clock times (``{"mon": ["09:00", "17:00"], "sat": [["10:00", "12:00"]]}``);
every instant is computed by placing those wall times on a real date in the zone and converting to
UTC, so daylight-saving changes move the UTC instants, never the local opening hours.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MINUTES_PER_DAY = 24 * 60
# Searches stop after this many days so a malformed calendar can never loop for ever.
SEARCH_DAYS = 400


class ClinicHoursError(ValueError):
    pass


@dataclass(frozen=True, order=True)
class Interval:
    start: int  # minutes after local midnight
    end: int  # up to 1440 ("24:00")

    def label(self) -> str:
        return f"{_clock(self.start)}–{_clock(self.end)}"


def _clock(minutes: int) -> str:
    return f"{minutes // 60}:{minutes % 60:02d}"


def _parse_clock(text: object, day: str) -> int:
    parts = text.split(":") if isinstance(text, str) else []
    if len(parts) != 2 or not all(part.isascii() and part.isdigit() for part in parts):
        raise ClinicHoursError(f"{day}: {text!r} is not a time like 09:00")
    hours, minutes = int(parts[0]), int(parts[1])
    if minutes >= 60 or hours * 60 + minutes > MINUTES_PER_DAY:
        raise ClinicHoursError(f"{day}: {text!r} is not a time between 00:00 and 24:00")
    return hours * 60 + minutes


def _parse_day(day: str, value: object) -> tuple[Interval, ...]:
    if value is None or value == []:
        return ()
    pairs = [value] if isinstance(value, (list, tuple)) and value and isinstance(value[0], str) else value
    if not isinstance(pairs, (list, tuple)) or not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in pairs):
        raise ClinicHoursError(f'{day}: hours must be ["09:00", "17:00"] or a list of such pairs')
    intervals = sorted(Interval(_parse_clock(a, day), _parse_clock(b, day)) for a, b in pairs)
    for interval in intervals:
        if interval.start >= interval.end:
            raise ClinicHoursError(f"{day}: closing time must be after opening time ({interval.label()})")
    for earlier, later in zip(intervals, intervals[1:], strict=False):
        if later.start < earlier.end:
            raise ClinicHoursError(f"{day}: opening hours overlap")
    return tuple(intervals)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ClinicHoursError(f"{name!r} is not a known time zone") from None


@dataclass(frozen=True)
class ClinicHours:
    week: tuple[tuple[Interval, ...], ...]  # Monday first
    zone: ZoneInfo

    @classmethod
    def parse(cls, hours: Mapping[str, object] | None, timezone: str) -> ClinicHours:
        hours = hours or {}
        if not isinstance(hours, Mapping):
            raise ClinicHoursError("clinic hours must be an object of day -> hours")
        unknown = set(hours) - set(DAY_KEYS)
        if unknown:
            raise ClinicHoursError(f"unknown day(s): {', '.join(sorted(map(str, unknown)))}")
        return cls(tuple(_parse_day(day, hours.get(day)) for day in DAY_KEYS), _zone(timezone))

    @property
    def has_hours(self) -> bool:
        return any(self.week)

    def _instant(self, day: date, minutes: int) -> datetime:
        if minutes == MINUTES_PER_DAY:  # "24:00" is the next day's midnight
            day, minutes = day + timedelta(days=1), 0
        local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=self.zone)
        return local.astimezone(UTC)

    def windows_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """The open windows of one local date, as UTC instants."""
        return [(self._instant(day, i.start), self._instant(day, i.end)) for i in self.week[day.weekday()]]

    def windows_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open windows that end after ``moment``, in order, for up to SEARCH_DAYS days."""
        first_day = moment.astimezone(self.zone).date() - timedelta(days=1)
        for offset in range(SEARCH_DAYS):
            for start, end in self.windows_on(first_day + timedelta(days=offset)):
                if end > moment:
                    yield start, end

    def is_open(self, moment: datetime) -> bool:
        window = next(self.windows_from(moment), None)
        return window is not None and window[0] <= moment

    def next_open(self, moment: datetime) -> datetime | None:
        """The next opening after ``moment``; None while open or when the clinic has no hours."""
        if self.is_open(moment):
            return None
        return next((start for start, _ in self.windows_from(moment) if start > moment), None)

    def summary(self) -> str:
        """ "Mon–Fri 9:00–17:00, Sat 10:00–12:00": consecutive days with equal hours grouped."""
        groups: list[list[int]] = []
        for index, intervals in enumerate(self.week):
            if intervals and groups and groups[-1][-1] == index - 1 and self.week[groups[-1][0]] == intervals:
                groups[-1].append(index)
            elif intervals:
                groups.append([index])
        return ", ".join(self._group_label(group) for group in groups)

    def _group_label(self, group: list[int]) -> str:
        days = DAY_NAMES[group[0]] if len(group) == 1 else f"{DAY_NAMES[group[0]]}–{DAY_NAMES[group[-1]]}"
        return f"{days} " + " and ".join(interval.label() for interval in self.week[group[0]])

    def add_business_time(self, start: datetime, duration: timedelta) -> datetime | None:
        """``start`` plus ``duration`` counted only while the clinic is open."""
        remaining = duration
        for window_start, window_end in self.windows_from(start):
            begin = max(window_start, start)
            if remaining <= window_end - begin:
                return begin + remaining
            remaining -= window_end - begin
        return None

    def add_business_days(self, start: datetime, days: int) -> datetime | None:
        """The same local time ``days`` open days later, counted from when the clinic is next open.

        Clamped into that day's opening hours, so the due time is always a time someone is there.
        """
        anchor = start if self.is_open(start) else self.next_open(start)
        if anchor is None:
            return None
        local = anchor.astimezone(self.zone)
        day = self._open_day_after(local.date(), days)
        if day is None:
            return None
        due = datetime.combine(day, local.time(), tzinfo=self.zone).astimezone(UTC)
        windows = self.windows_on(day)
        return min(max(due, windows[0][0]), windows[-1][1])

    def _open_day_after(self, day: date, count: int) -> date | None:
        for offset in range(1, SEARCH_DAYS):
            candidate = day + timedelta(days=offset)
            count -= bool(self.week[candidate.weekday()])
            if count <= 0 and self.week[candidate.weekday()]:
                return candidate
        return None
