"""What a notification says, per kind, from ``templates/messages/notices.txt``.

Generic text only: a title, one line and the address to open. The address carries an opaque code
at most (an alert's code), never a name or a value.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from companion.notify.transports import Notice

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

URLS = {
    "checkin": "/checkin",
    "questionnaire": "/today",
    "session_prep": "/sessions",
    "session_soon": "/sessions",
    "journal": "/journal",
    "side_effects": "/checkin",
    "test": "/settings",
}
REMINDER_URGENCY = "normal"


@lru_cache(maxsize=1)
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@lru_cache(maxsize=1)
def _texts() -> dict[str, tuple[str, str]]:
    rendered = environment().get_template("messages/notices.txt").render()
    texts = {}
    for line in rendered.splitlines():
        if line.strip():
            kind, title, body = (part.strip() for part in line.split("|"))
            texts[kind] = (title, body)
    return texts


def alert_notice(alert_code: str, *, escalated: bool = False) -> Notice:
    title, body = _texts()["alert_escalated" if escalated else "alert"]
    return Notice(
        title,
        body,
        f"/clinic/alerts/{alert_code}",
        f"alert-{alert_code}",
        urgency="high",
        topic=f"alert-{alert_code}"[:32],
    )


def reminder_notice(kind: str) -> Notice:
    title, body = _texts()[kind]
    return Notice(title, body, URLS[kind], f"reminder-{kind}", urgency=REMINDER_URGENCY, topic=f"reminder-{kind}"[:32])


def access_review_notice() -> Notice:
    """For a clinic's admins: emergency access was used and waits for their review (AC-06)."""
    title, body = _texts()["access_review"]
    return Notice(
        title, body, "/clinic/admin/audit#break-glass", "access-review", urgency="normal", topic="access-review"
    )


def test_notice() -> Notice:
    title, body = _texts()["test"]
    return Notice(title, body, URLS["test"], "test", urgency="normal", topic="test")
