"""Fading response: is the benefit of ketamine/esketamine wearing off between sessions? (pure)

The computation, on the patient's daily mood check-ins (0-10, higher is better; the day's latest
revision counts):

1. **Rolling mood** R(d): the mean mood over the 7 days ending on day d, defined only when at
   least ``min_days`` (4) of those 7 days have a check-in. Gaps shorter than that are tolerated;
   a week with fewer check-ins has no value rather than a value from one or two noisy days.
2. **Pre-treatment baseline** B: the mean mood over the ``baseline_days`` (14) days before the
   first attended session, needing ``min_days`` check-ins. No baseline -> "insufficient data".
3. **Post-session peak** P: the highest R(d) on any day from the first attended session up to
   and including today, among the days given (the dashboard passes six weeks, so the peak is a
   recent one and an old peak does not haunt a patient for ever).
4. **Current** C = R(today). No value (too few check-ins this week) -> "insufficient data":
   missing check-ins are flagged separately on the dashboard, never read as fading.
5. **Gain** G = P - B. If G < ``min_gain`` (1 point) the patient has not responded on this
   measure -> "no response" (B3 and the PHQ-9 judge non-response; this rule is about losing a
   response that happened).
6. **Share lost** L = (P - C) / G. Fading when L >= the clinic's threshold (default 50 %: half
   the gain over baseline is gone) **and** P - C >= ``min_drop`` (1 point, so a small gain
   wobbling is not called fading).

No source gives a validated threshold for this (clinical.md section 10, item 9 covers the mood
rules generally): the defaults are proposals for the clinical lead, and the clinic sets its own
(``clinic.settings["fading"]``). Past the threshold the dashboard flags the patient and
``companion.clinic.fading_job`` raises a Low alert suggesting a review of the session interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

WINDOW_DAYS = 7


class FadingStatus(StrEnum):
    INSUFFICIENT = "insufficient_data"
    NO_RESPONSE = "no_response"
    HOLDING = "holding"
    FADING = "fading"


@dataclass(frozen=True)
class FadingSettings:
    threshold_percent: int = 50
    min_gain: float = 1.0
    min_drop: float = 1.0
    min_days: int = 4
    baseline_days: int = 14

    @classmethod
    def from_clinic(cls, settings: Mapping[str, Any] | None) -> FadingSettings:
        data = (settings or {}).get("fading") or {}
        percent = data.get("threshold_percent", cls.threshold_percent)
        if isinstance(percent, bool) or not isinstance(percent, int) or not 10 <= percent <= 100:
            percent = cls.threshold_percent
        return cls(threshold_percent=percent)


@dataclass(frozen=True)
class FadingResult:
    status: FadingStatus
    baseline: float | None = None
    peak: float | None = None
    current: float | None = None
    lost_percent: float | None = None

    @property
    def fading(self) -> bool:
        return self.status is FadingStatus.FADING


def rolling_mean(moods: Mapping[date, int], day: date, min_days: int = 4) -> float | None:
    values = [moods[d] for d in (day - timedelta(days=n) for n in range(WINDOW_DAYS)) if d in moods]
    return sum(values) / len(values) if len(values) >= min_days else None


def pre_treatment_baseline(moods: Mapping[date, int], first_session: date, settings: FadingSettings) -> float | None:
    days = [first_session - timedelta(days=n) for n in range(1, settings.baseline_days + 1)]
    values = [moods[d] for d in days if d in moods]
    return sum(values) / len(values) if len(values) >= settings.min_days else None


def assess_fading(
    moods: Mapping[date, int],
    session_days: Sequence[date],
    today: date,
    settings: FadingSettings = FadingSettings(),
    baseline: float | None = None,
) -> FadingResult:
    """Classify the patient's mood trajectory; see the module docstring for the computation.

    ``baseline`` may be passed in when the pre-treatment days are not among ``moods`` (the
    dashboard reads a recent window only and asks the database for the baseline separately).
    """
    started = sorted(d for d in session_days if d <= today)
    if not started:
        return FadingResult(FadingStatus.INSUFFICIENT)
    first = started[0]
    if baseline is None:
        baseline = pre_treatment_baseline(moods, first, settings)
    current = rolling_mean(moods, today, settings.min_days)
    if baseline is None or current is None:
        return FadingResult(FadingStatus.INSUFFICIENT, baseline, None, current)
    earliest = max(first, min(moods, default=today))
    span = (today - earliest).days
    rolled = [rolling_mean(moods, earliest + timedelta(days=n), settings.min_days) for n in range(span + 1)]
    peak = max((value for value in rolled if value is not None), default=current)
    gain = peak - baseline
    if gain < settings.min_gain:
        return FadingResult(FadingStatus.NO_RESPONSE, baseline, peak, current)
    lost = (peak - current) / gain * 100
    fading = lost >= settings.threshold_percent and peak - current >= settings.min_drop
    status = FadingStatus.FADING if fading else FadingStatus.HOLDING
    return FadingResult(status, round(baseline, 2), round(peak, 2), round(current, 2), round(lost, 1))
