"""Operational logging: one line per event, UTC, no health data (LOG-02, LOG-05).

Request access logs carry method, route template and status only: no query strings (they could
carry a cursor or token) and no bodies.
"""

from __future__ import annotations

import logging
import sys
import time

from companion.settings import Settings


class UTCFormatter(logging.Formatter):
    converter = time.gmtime


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(UTCFormatter("%(asctime)sZ %(levelname)s %(name)s %(message)s", "%Y-%m-%dT%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # uvicorn's access log prints full paths with query strings; keep it off.
    logging.getLogger("uvicorn.access").disabled = True
