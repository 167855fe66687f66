"""A closed-loop asyncio load generator (aiohttp), run in its own process: ``python -m benchmarks.loadgen``.

It reads a JSON spec on stdin and prints a JSON report on stdout. Each of ``concurrency`` workers
holds one keep-alive connection and one logged-in patient (cookie + CSRF token), and sends its next
request as soon as the previous answer has been read completely, like wrk does.

Spec::

    {"base": "http://127.0.0.1:8123", "concurrency": 16,
     "clients": [{"cookie": "csrftoken=..; companion_session=..", "csrf": ".."}, ...],
     "mix": [["checkin_post", 1]],            # request kinds and their weights (interleaved)
     "duration_s": 20, "warmup_s": 3,         # run for a time ...
     "requests": null,                        # ... or exactly this many requests
     "key_prefix": "ab12cd34"}                # keeps idempotency keys unique across runs

Kinds: healthz, today, history, checkin_get, checkin_post. Latencies are per request, from
sending to the last byte of the answer, in milliseconds.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from collections import Counter, defaultdict
from typing import Any

from benchmarks.harness import latency_summary_ms

EXPECTED = {"healthz": 200, "today": 200, "history": 200, "checkin_get": 200, "checkin_post": 303}
PATHS = {"healthz": "/healthz", "today": "/today", "history": "/history", "checkin_get": "/checkin"}
NOTE = "Walked by the river. Felt a bit lighter than yesterday."


def interleave(mix: list[list[Any]]) -> list[str]:
    """A repeating sequence with each kind spread out, e.g. [[a, 3], [b, 1]] -> a a b a."""
    slots: list[tuple[float, str]] = []
    for kind, weight in mix:
        slots += [((i + 0.5) / weight, kind) for i in range(int(weight))]
    return [kind for _position, kind in sorted(slots)]


class Run:
    def __init__(self, spec: dict[str, Any]):
        self.spec = spec
        self.base = spec["base"].rstrip("/")
        self.sequence = interleave(spec["mix"])
        self.limit: int | None = spec.get("requests")
        self.issued = itertools.count()
        self.recording = False
        self.stop_at = 0.0
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, Counter[int]] = defaultdict(Counter)
        self.failures: Counter[str] = Counter()
        self.key_prefix = spec.get("key_prefix", "bench")

    def next_kind(self) -> str | None:
        index = next(self.issued)
        if self.limit is not None and index >= self.limit:
            return None
        if self.limit is None and time.monotonic() >= self.stop_at:
            return None
        return self.sequence[index % len(self.sequence)]

    async def worker(self, number: int, http: Any, client: dict[str, str]) -> None:
        headers = {"Cookie": client["cookie"], "Origin": self.base, "Accept": "text/html"}
        sent = 0
        while (kind := self.next_kind()) is not None:
            sent += 1
            started = time.perf_counter()
            try:
                if kind == "checkin_post":
                    form = {
                        "mood": str(sent % 11),
                        "anxiety": str((sent * 3) % 11),
                        "energy": str((sent * 7) % 11),
                        "safety": "none",
                        "sleep_hours": "7.5",
                        "sleep_quality": str(sent % 5),
                        "note": NOTE,
                        "idempotency_key": f"{self.key_prefix}-w{number}-{sent}",
                        "_csrf_token": client["csrf"],
                    }
                    response = await http.post(
                        f"{self.base}/checkin", data=form, headers=headers, allow_redirects=False
                    )
                else:
                    response = await http.get(f"{self.base}{PATHS[kind]}", headers=headers, allow_redirects=False)
                await response.read()
                status = response.status
                response.release()
            except Exception as exc:  # noqa: BLE001 - counted and reported, never fatal
                self.failures[type(exc).__name__] += 1
                continue
            elapsed = time.perf_counter() - started
            if self.recording:
                self.latencies[kind].append(elapsed)
                self.statuses[kind][status] += 1

    async def phase(self, http: Any, clients: list[dict[str, str]], concurrency: int, seconds: float | None) -> float:
        if seconds is not None:
            self.stop_at = time.monotonic() + seconds
        started = time.perf_counter()
        await asyncio.gather(*(self.worker(n, http, clients[n % len(clients)]) for n in range(concurrency)))
        return time.perf_counter() - started

    async def main(self) -> dict[str, Any]:
        import aiohttp

        concurrency = int(self.spec.get("concurrency", 16))
        clients = self.spec["clients"]
        connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()
        ) as http:
            if self.limit is None and self.spec.get("warmup_s"):
                await self.phase(http, clients, concurrency, float(self.spec["warmup_s"]))
                self.issued = itertools.count()
            self.recording = True
            elapsed = await self.phase(http, clients, concurrency, self.spec.get("duration_s"))
        return self.report(elapsed, aiohttp.__version__)

    def report(self, elapsed: float, version: str) -> dict[str, Any]:
        every = [value for values in self.latencies.values() for value in values]
        unexpected = sum(
            n for kind, counts in self.statuses.items() for status, n in counts.items() if status != EXPECTED[kind]
        )
        return {
            "generator": f"asyncio + aiohttp {version}",
            "requests": len(every),
            "elapsed_s": round(elapsed, 3),
            "rps": round(len(every) / elapsed, 1) if elapsed else 0.0,
            "latency_ms": latency_summary_ms(every),
            "unexpected": unexpected,
            "failures": dict(self.failures),
            "by_kind": {
                kind: {
                    "count": len(values),
                    "statuses": dict(self.statuses[kind]),
                    "latency_ms": latency_summary_ms(values),
                }
                for kind, values in sorted(self.latencies.items())
            },
        }


def main() -> None:
    spec = json.load(sys.stdin)
    try:
        import uvloop
    except ImportError:
        report = asyncio.run(Run(spec).main())
    else:
        report = uvloop.run(Run(spec).main())
    print(json.dumps(report))


if __name__ == "__main__":
    main()
