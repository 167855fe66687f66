"""Chart geometry for the hand-made SVG charts (pure; the Jinja macros in macros/charts.html draw).

Each chart is computed here in plain numbers (pixel positions, path data, labels) so the templates
only place elements. The SVG carries ``<title>``/``<desc>`` and every chart has a data table next
to it, so screen readers and print get the numbers too. No inline styles (the CSP forbids them):
colours come from CSS classes, sizes from presentation attributes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

WIDTH, HEIGHT = 640, 200
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 34, 10, 10, 24


@dataclass(frozen=True)
class Band:
    y: float
    height: float
    css: str
    label: str


@dataclass(frozen=True)
class Rule:
    y: float
    css: str
    label: str


@dataclass(frozen=True)
class Marker:
    x: float
    label: str


@dataclass(frozen=True)
class Series:
    name: str
    css: str
    path: str
    points: tuple[tuple[float, float, str], ...]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int


@dataclass
class Chart:
    key: str
    title: str
    desc: str
    width: int = WIDTH
    height: int = HEIGHT
    series: list[Series] = field(default_factory=list)
    bands: list[Band] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    columns: tuple[str, ...] = ()
    rows: list[tuple[str, ...]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.rows

    @property
    def plot_bottom(self) -> float:
        return self.height - PAD_BOTTOM


@dataclass(frozen=True)
class Scale:
    start: date
    end: date
    low: float
    high: float
    width: int = WIDTH
    height: int = HEIGHT

    def x(self, day: date) -> float:
        span = max((self.end - self.start).days, 1)
        inner = self.width - PAD_LEFT - PAD_RIGHT
        return round(PAD_LEFT + (day - self.start).days / span * inner, 1)

    def y(self, value: float) -> float:
        inner = self.height - PAD_TOP - PAD_BOTTOM
        clamped = min(max(value, self.low), self.high)
        return round(PAD_TOP + (self.high - clamped) / (self.high - self.low) * inner, 1)


def _path(points: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{'M' if i == 0 else 'L'}{x},{y}" for i, (x, y) in enumerate(points))


def series(scale: Scale, name: str, css: str, values: Sequence[tuple[date, float]]) -> Series:
    points = tuple((scale.x(d), scale.y(v), f"{d:%d %b %Y}: {v:g}") for d, v in values)
    return Series(name, css, _path([(x, y) for x, y, _ in points]), points)


def x_ticks(scale: Scale, count: int = 6) -> list[tuple[float, str]]:
    span = (scale.end - scale.start).days
    if span <= 0:
        return [(scale.x(scale.start), f"{scale.start:%d %b}")]
    step = max(span // count, 1)
    from datetime import timedelta

    return [
        (scale.x(scale.start + timedelta(days=n)), f"{scale.start + timedelta(days=n):%d %b}")
        for n in range(0, span + 1, step)
    ]


def y_ticks(scale: Scale, values: Sequence[float]) -> list[tuple[float, str]]:
    return [(scale.y(v), f"{v:g}") for v in values]


def sparkline(values: Sequence[int | None], width: int = 112, height: int = 24, high: int = 10) -> str:
    """Path data for a small mood line; days without a check-in break the line."""
    if not values:
        return ""
    count = len(values)
    parts: list[str] = []
    pen_down = False
    for index, value in enumerate(values):
        if value is None:
            pen_down = False
            continue
        parts.append(("L" if pen_down else "M") + _spark_point(index, value, count, width, height, high))
        pen_down = True
    return " ".join(parts)


@lru_cache(maxsize=2048)
def _spark_point(index: int, value: float, count: int, width: int, height: int, high: int) -> str:
    """One ``x,y`` of a sparkline: the dashboard draws hundreds, from a handful of distinct points."""
    step = width / max(count - 1, 1)
    return f"{round(index * step, 1)},{round(2 + (high - value) / high * (height - 4), 1)}"
