"""One interface for every channel: ``send(target, message)`` or ``TransportError``.

A ``Notice`` is all a message may carry: a title, one generic line, the address to open and a tag.
Never health data: no scores, notes, names or drug names (DATA, issue 4). The push payload is that
notice as JSON, exactly what the service worker shows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol


class TransportError(Exception):
    """A failed send. ``permanent``: do not retry (push 404/410, no address). ``retry_after``: seconds."""

    def __init__(
        self, message: str, *, permanent: bool = False, retry_after: float | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.status_code = status_code


@dataclass(frozen=True)
class Notice:
    title: str
    body: str
    url: str
    tag: str
    urgency: str = "normal"  # RFC 8030: very-low, low, normal, high
    topic: str | None = None  # RFC 8030: a newer message with the same topic replaces an older one

    def payload(self) -> str:
        return json.dumps(
            {"title": self.title, "body": self.body, "url": self.url, "tag": self.tag}, separators=(",", ":")
        )


class Transport(Protocol):
    channel: str

    async def send(self, target: object, notice: Notice, *, ttl: int) -> int:
        """Deliver ``notice`` to ``target``; return the status code; raise ``TransportError``."""
        ...
