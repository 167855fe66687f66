"""Figure 2: the Today page for a patient with a year of data, one request at a time.

One ``companion serve`` process (embedded SQLite) and one patient with 365 daily check-ins (some
amended, some with side effects), weekly treatment sessions with reflections, and ~150 journal
entries (see ``benchmarks/seed.py``). The patient logs in through ``POST /login``; then a single
keep-alive connection sends ``GET /today`` sequentially (the next request only after the previous
answer was read in full), as a browser would with ``Accept-Encoding: gzip``. The time from sending
the request to reading the last byte, at the client on loopback, stands for the server-side time:
the loopback round trip and the client's own work are well under a tenth of a millisecond.

Run alone: ``python -m benchmarks.today_latency [--quick]``.
"""

from __future__ import annotations

import http.client
import sys
import time

from benchmarks.harness import HOST, Figure, Server, fmt_ms, latency_summary_ms, log_in
from benchmarks.seed import PASSWORD, seed_clinic

NAME = "today-latency"
TARGET_P95_MS = 20


def run(quick: bool = False) -> list[Figure]:
    warmup, samples = (20, 150) if quick else (50, 600)
    with Server("today") as server:
        seeded = server.prepare(lambda db: seed_clinic(db, patients=1, year_of_data=True))
        server.start()
        client = log_in(server.port, seeded.logins[0], PASSWORD)
        rows = server.count(f"SELECT count(*) FROM checkin WHERE patient_id = {seeded.patient_ids[0]}")
        headers = {
            "Cookie": client.cookie_header,
            "Accept": "text/html",
            "Accept-Encoding": "gzip",
            "User-Agent": "companion-benchmarks",
        }
        conn = http.client.HTTPConnection(HOST, server.port, timeout=30)
        timings: list[float] = []
        sizes: set[int] = set()
        statuses: dict[int, int] = {}
        cpu_before = 0.0
        for index in range(warmup + samples):
            if index == warmup:
                cpu_before = server.cpu_seconds()
            started = time.perf_counter()
            conn.request("GET", "/today", headers=headers)
            response = conn.getresponse()
            body = response.read()
            elapsed = time.perf_counter() - started
            if index >= warmup:
                timings.append(elapsed)
                statuses[response.status] = statuses.get(response.status, 0) + 1
                sizes.add(len(body))
        cpu = server.cpu_seconds() - cpu_before
        conn.close()

    latency = latency_summary_ms(timings)
    unexpected = sum(n for status, n in statuses.items() if status != 200)
    values = {
        "samples": samples,
        "latency_ms": latency,
        "statuses": statuses,
        "unexpected": unexpected,
        "response_bytes_gzip": sorted(sizes)[-1] if sizes else 0,
        "server_cpu_ms_per_request": round(1000 * cpu / samples, 2),
        "patient_checkin_rows": rows,
        "generator": "http.client, 1 keep-alive connection, sequential",
    }
    note = f", {unexpected} unexpected answer(s), see results/server-*.log" if unexpected else ""
    target = f"target p95 <= {TARGET_P95_MS} ms"
    summary = (
        f"{NAME}: p50 {fmt_ms(latency['p50'])}, p95 {fmt_ms(latency['p95'])}, p99 {fmt_ms(latency['p99'])} "
        f"({samples} sequential GET /today on 1 connection, patient with 1 year of data, SQLite; "
        f"server CPU {values['server_cpu_ms_per_request']:.1f} ms/request{note}) [{target}]"
    )
    return [
        Figure(
            name=NAME,
            summary=summary,
            target=target,
            method=(
                "One `companion serve` process on 127.0.0.1 (embedded SQLite). One patient with a year of data "
                "(365 daily check-ins plus amendments, weekly sessions with reflections, ~150 journal entries) logs "
                f"in via POST /login; one keep-alive connection then sends GET /today {warmup} times to warm up and "
                f"{samples} times measured, strictly one after another, with Accept-Encoding: gzip. Latency is from "
                "sending the request to reading the whole answer, at the client on loopback."
            ),
            values=values,
            meets_target=latency["p95"] <= TARGET_P95_MS,
        )
    ]


if __name__ == "__main__":
    for figure in run(quick="--quick" in sys.argv):
        print(figure.summary)
