"""Figure 3: resident memory of the ``companion serve`` process after 10,000 mixed requests.

One ``companion serve`` process (embedded SQLite), 16 patients with a year of data each, each
logged in once through ``POST /login``. A separate load-generator process (``loadgen.py``: it sends
an exact number of requests and checks every status, which wrk cannot) then sends 10,000 requests
on 16 keep-alive connections, in five rounds of 2,000, interleaving per ten requests: 3 ``GET
/today``, 2 ``GET /checkin``, 2 ``POST /checkin`` (303), 2 ``GET /history``, 1 ``GET /healthz``.
VmRSS is read from /proc/<pid>/status after start-up, after the logins and after every round, so a
steady climb (a leak) shows beside the final figure; VmHWM gives the peak.

Run alone: ``python -m benchmarks.memory [--quick]``.
"""

from __future__ import annotations

import sys
from typing import Any

from benchmarks.harness import Figure, Server, fmt_mb, log_in_all, run_id, run_loadgen
from benchmarks.seed import PASSWORD, seed_clinic

NAME = "memory-rss"
CLIENTS = 16
TOTAL = 10_000
ROUNDS = 5
TARGET_MB = 200
MIX = [["today", 3], ["checkin_get", 2], ["checkin_post", 2], ["history", 2], ["healthz", 1]]


def run(quick: bool = False) -> list[Figure]:
    total = 2_000 if quick else TOTAL
    per_round = total // ROUNDS
    with Server("memory") as server:
        seeded = server.prepare(lambda db: seed_clinic(db, patients=CLIENTS, year_of_data=True))
        server.start()
        started = server.memory_kib()
        clients = log_in_all(server.port, seeded.logins, PASSWORD)
        after_logins = server.memory_kib()  # VmHWM here: the peak of start-up plus argon2 hashing at login
        samples: list[dict[str, int]] = []
        reports: list[dict[str, Any]] = []
        for _round in range(ROUNDS):
            spec = {
                "base": server.base_url,
                "concurrency": CLIENTS,
                "clients": [c.as_json() for c in clients],
                "mix": MIX,
                "requests": per_round,
                "key_prefix": run_id(),
            }
            reports.append(run_loadgen(spec))
            samples.append({"requests": per_round * (len(samples) + 1), **server.memory_kib()})
        final = server.memory_kib()

    sent = sum(r["requests"] for r in reports)
    unexpected = sum(r["unexpected"] for r in reports) + sum(sum(r["failures"].values()) for r in reports)
    by_kind: dict[str, dict[str, int]] = {}
    for report in reports:
        for kind, data in report["by_kind"].items():
            counts = by_kind.setdefault(kind, {})
            for status, n in data["statuses"].items():
                counts[status] = counts.get(status, 0) + n
    values = {
        "requests": sent,
        "rss_kib": final["VmRSS"],
        "peak_rss_kib": final["VmHWM"],
        "rss_after_start_kib": started["VmRSS"],
        "rss_after_logins_kib": after_logins["VmRSS"],
        "peak_rss_by_logins_kib": after_logins["VmHWM"],
        "rss_by_round_kib": samples,
        "statuses_by_kind": by_kind,
        "unexpected": unexpected,
        "generator": reports[0]["generator"] if reports else "",
        "mixed_rps": round(sent / sum(r["elapsed_s"] for r in reports), 1) if reports else 0,
    }
    growth = (samples[-1]["VmRSS"] - samples[0]["VmRSS"]) if samples else 0
    note = f", {unexpected} unexpected answer(s), see results/server-*.log" if unexpected else ""
    peak = f"peak {fmt_mb(final['VmHWM'])}"
    if final["VmHWM"] - after_logins["VmHWM"] < 1024:
        peak += " reached during the logins (argon2)"
    target = f"target <= {TARGET_MB} MB"
    summary = (
        f"{NAME}: {fmt_mb(final['VmRSS'])} after {sent:,} requests ({peak}; "
        f"{fmt_mb(started['VmRSS'])} at start, {fmt_mb(after_logins['VmRSS'])} after 16 logins, "
        f"{growth / 1024:+.0f} MB over the last {sent - per_round:,} requests; mixed /today, /checkin, POST /checkin, "
        f"/history, /healthz, {CLIENTS} clients, SQLite{note}) [{target}]"
    )
    return [
        Figure(
            name=NAME,
            summary=summary,
            target=target,
            method=(
                "One `companion serve` process on 127.0.0.1 (embedded SQLite), 16 patients with a year of data each, "
                f"logged in via POST /login. A separate asyncio/aiohttp process sends exactly {total:,} requests on "
                "16 keep-alive connections in 5 rounds (per 10: 3 GET /today, 2 GET /checkin, 2 POST /checkin, "
                "2 GET /history, 1 GET /healthz), checking every status. VmRSS/VmHWM from /proc/<pid>/status."
            ),
            values=values,
            meets_target=final["VmRSS"] <= TARGET_MB * 1024,
        )
    ]


if __name__ == "__main__":
    for figure in run(quick="--quick" in sys.argv):
        print(figure.summary)
