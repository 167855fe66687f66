"""The Jinja environment: autoescaping on, helpers every template may use."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar.contrib.jinja import JinjaTemplateEngine

from companion.settings import Settings

TEMPLATES = Path(__file__).parent.parent / "templates"
STATIC = Path(__file__).parent.parent / "static"


@lru_cache(maxsize=64)
def asset(path: str) -> str:
    """URL of a static file with a content hash, so it can be cached for a year and still update."""
    digest = hashlib.sha256((STATIC / path).read_bytes()).hexdigest()[:10]
    return f"/static/{path}?v={digest}"


def local_time(value: datetime | None, zone: str, fmt: str = "%a %d %b, %H:%M") -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(zone)).strftime(fmt)


def day_label(value: date, fmt: str = "%a %d %b") -> str:
    return value.strftime(fmt)


def configure_templates(settings: Settings) -> JinjaTemplateEngine:
    # We build the Environment ourselves, so autoescape must be switched on here explicitly:
    # patient notes are user input (tech-notes 1.2).
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        enable_async=False,
    )
    environment.globals.update(asset=asset, product_name="Companion", production=settings.production)
    environment.filters.update(local_time=local_time, day_label=day_label)
    return JinjaTemplateEngine.from_environment(environment)
