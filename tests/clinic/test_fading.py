"""Fading response on made-up trajectories (companion.clinic.fading; pure)."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from companion.clinic.fading import FadingSettings, FadingStatus, assess_fading, rolling_mean

START = date(2026, 9, 1)  # first session
BEFORE = 14


def trajectory(baseline: float, shape, days_after: int = 42, seed: int = 0, noise: float = 0.0, skip=()) -> dict:
    """Moods for 14 days before the first session and ``days_after`` days from it."""
    rng = random.Random(seed)
    moods = {}
    for n in range(-BEFORE, days_after + 1):
        day = START + timedelta(days=n)
        if n in skip:
            continue
        value = baseline if n < 0 else shape(n)
        value += rng.uniform(-noise, noise)
        moods[day] = max(0, min(10, round(value)))
    return moods


def sessions(every: int = 7, count: int = 6) -> list[date]:
    return [START + timedelta(days=every * n) for n in range(count)]


def today(days_after: int = 42) -> date:
    return START + timedelta(days=days_after)


def steady(n):  # improves within a week and stays up
    return 3 + min(n, 7) / 7 * 4


def fading(n):  # improves to 7 by day 14, then slides back towards baseline from day 21
    if n <= 14:
        return 3 + n / 14 * 4
    return max(3.0, 7 - (n - 21) * 0.2) if n > 21 else 7


CASES = [
    ("steady responder", trajectory(3, steady), FadingStatus.HOLDING),
    ("fading responder", trajectory(3, fading), FadingStatus.FADING),
    ("non-responder", trajectory(3, lambda n: 3), FadingStatus.NO_RESPONSE),
    ("noisy steady responder", trajectory(3, steady, noise=1.0, seed=7), FadingStatus.HOLDING),
    ("noisy fading responder", trajectory(3, fading, noise=1.0, seed=7), FadingStatus.FADING),
    ("gaps in the current week", trajectory(3, fading, skip=range(36, 42)), FadingStatus.INSUFFICIENT),
    (
        "no baseline check-ins",
        {d: m for d, m in trajectory(3, steady).items() if d >= START},
        FadingStatus.INSUFFICIENT,
    ),
    ("scattered gaps still readable", trajectory(3, fading, skip=(30, 33, 39)), FadingStatus.FADING),
]


@pytest.mark.parametrize(("name", "moods", "expected"), CASES, ids=[c[0] for c in CASES])
def test_made_up_trajectories(name, moods, expected):
    result = assess_fading(moods, sessions(), today())
    assert result.status is expected, (name, result)


def test_figures_of_a_fading_responder():
    result = assess_fading(trajectory(3, fading), sessions(), today())
    assert result.baseline == 3 and result.peak == 7
    assert result.current is not None and result.current < 5
    assert result.lost_percent is not None and result.lost_percent >= 50


def test_clinic_threshold_changes_the_verdict():
    moods = trajectory(3, fading)
    lenient = FadingSettings(threshold_percent=90)
    assert assess_fading(moods, sessions(), today(), lenient).status is FadingStatus.HOLDING
    assert FadingSettings.from_clinic({"fading": {"threshold_percent": 90}}).threshold_percent == 90
    assert FadingSettings.from_clinic({"fading": {"threshold_percent": "lots"}}).threshold_percent == 50


def test_no_session_yet_is_insufficient():
    assert assess_fading(trajectory(3, steady), [], today()).status is FadingStatus.INSUFFICIENT
    future = [today() + timedelta(days=3)]
    assert assess_fading(trajectory(3, steady), future, today()).status is FadingStatus.INSUFFICIENT


def test_baseline_can_be_passed_in():
    recent = {d: m for d, m in trajectory(3, fading).items() if d >= START}
    assert assess_fading(recent, sessions(), today(), baseline=3.0).status is FadingStatus.FADING


def test_rolling_mean_needs_four_days_of_seven():
    moods = {today() - timedelta(days=n): 6 for n in (0, 2, 4)}
    assert rolling_mean(moods, today()) is None
    moods[today() - timedelta(days=6)] = 2
    assert rolling_mean(moods, today()) == 5


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.integers(-20, 60), st.integers(0, 10), max_size=80), st.integers(0, 60))
def test_any_input_gives_a_status_and_never_raises(raw, offset):
    moods = {START + timedelta(days=k): v for k, v in raw.items()}
    result = assess_fading(moods, sessions(), START + timedelta(days=offset))
    assert result.status in set(FadingStatus)
    if result.status is FadingStatus.FADING:
        assert result.lost_percent >= 50 and result.peak - result.current >= 1
