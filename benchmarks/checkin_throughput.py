"""Figure 1: check-in submissions per second through the whole stack, and GET /healthz beside it.

One ``companion serve`` process (embedded SQLite, synchronous=FULL, WAL) with 16 patients who each
have a year of history. Each of 16 clients logs in once through ``POST /login``; then a separate
load-generator process (wrk with ``wrk_form.lua``, or ``loadgen.py`` when wrk is missing) keeps
16 keep-alive connections busy with ``POST /checkin`` form submissions: session cookie, CSRF cookie
and field, fresh idempotency key, validation, insert, commit, 303. After a short warm-up the
measured run lasts 20 s. The same server's ``GET /healthz`` (which pings the database) is then
measured the same way for comparison.

Run alone: ``python -m benchmarks.checkin_throughput [--quick]``.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from benchmarks.harness import (
    Client,
    Figure,
    Server,
    fmt_ms,
    log_in_all,
    run_id,
    run_loadgen,
    run_wrk,
    write_clients_file,
    wrk_path,
)
from benchmarks.seed import PASSWORD, seed_clinic

NAME = "checkin-throughput"
HEALTHZ_NAME = "healthz-throughput"
CLIENTS = 16
TARGET_RPS = 200
TARGET_P95_MS = 50


def _wrk_phase(server: Server, clients: list[Client], kind: str, seconds: int) -> dict[str, Any]:
    if kind == "checkin_post":
        clients_file = server.data_dir / "clients.tsv"
        if not clients_file.exists():
            write_clients_file(clients_file, clients)
        url, script = f"{server.base_url}/checkin", "wrk_form.lua"
        args = [str(clients_file), run_id(), server.base_url, "checkin"]
    else:
        url, script, args = f"{server.base_url}/healthz", "wrk_report.lua", ["200"]
    report = run_wrk(url, connections=CLIENTS, duration_s=seconds, script=script, args=args)
    elapsed = report["duration_us"] / 1e6
    errors = report["errors"]
    return {
        "generator": report["generator"],
        "requests": report["requests"],
        "elapsed_s": round(elapsed, 3),
        "rps": round(report["requests"] / elapsed, 1),
        "latency_ms": {k: round(v / 1000, 2) for k, v in report["latency_us"].items()},
        # wrong status (wrk_report.lua counts them) plus socket errors and timeouts
        "unexpected": report["unexpected"] + sum(errors.values()) - errors["status"],
        "socket_errors": errors,
    }


def _loadgen_phase(server: Server, clients: list[Client], kind: str, seconds: int) -> dict[str, Any]:
    spec = {
        "base": server.base_url,
        "concurrency": CLIENTS,
        "clients": [c.as_json() for c in clients],
        "mix": [[kind, 1]],
        "duration_s": seconds,
        "key_prefix": run_id(),
    }
    report = run_loadgen(spec)
    result = {k: report[k] for k in ("generator", "requests", "elapsed_s", "rps", "latency_ms", "unexpected")}
    result["unexpected"] += sum(report["failures"].values())
    result["failures"] = report["failures"]
    return result


def _measure(server: Server, clients: list[Client], kind: str, seconds: int, warmup: int) -> dict[str, Any]:
    """Warm up, then measure one kind of request; the same numbers whichever generator runs."""
    phase = _wrk_phase if wrk_path() else _loadgen_phase
    phase(server, clients, kind, warmup)
    time.sleep(0.5)  # let requests still in flight from the warm-up finish
    rows_before = server.count("SELECT count(*) FROM checkin")
    cpu_before = server.cpu_seconds()
    result = phase(server, clients, kind, seconds)
    cpu = server.cpu_seconds() - cpu_before
    result["server_cpu_percent_of_one_core"] = round(100 * cpu / result["elapsed_s"]) if result["elapsed_s"] else None
    result["server_cpu_ms_per_request"] = round(1000 * cpu / result["requests"], 2) if result["requests"] else None
    if kind == "checkin_post":
        time.sleep(0.5)
        # Committed rows: the measured requests plus the few still in flight when the run stopped.
        result["checkins_stored"] = server.count("SELECT count(*) FROM checkin") - rows_before
    return result


def run(quick: bool = False) -> list[Figure]:
    seconds, warmup = (5, 2) if quick else (20, 3)
    with Server("checkin") as server:
        seeded = server.prepare(lambda db: seed_clinic(db, patients=CLIENTS, year_of_data=True))
        server.start()
        clients = log_in_all(server.port, seeded.logins, PASSWORD)
        checkin = _measure(server, clients, "checkin_post", seconds, warmup)
        healthz = _measure(server, clients, "healthz", max(seconds // 2, 5), 2)

    def line(name: str, r: dict[str, Any], what: str, target: str, extra: str = "") -> str:
        lat = r["latency_ms"]
        return (
            f"{name}: {r['rps']:.0f} req/s, p50 {fmt_ms(lat['p50'])}, p95 {fmt_ms(lat['p95'])} "
            f"({what}{CLIENTS} clients, {round(r['elapsed_s'])} s, SQLite, {r['generator']}; "
            f"server CPU {r['server_cpu_percent_of_one_core']:.0f}% of one core, "
            f"{r['server_cpu_ms_per_request']} ms per request{extra}) [{target}]"
        )

    target = f"target >= {TARGET_RPS} req/s, p95 <= {TARGET_P95_MS} ms"
    unexpected = (
        f", {checkin['unexpected']} unexpected answer(s), see results/server-*.log" if checkin["unexpected"] else ""
    )
    stored = f"; {checkin['checkins_stored']} check-ins stored{unexpected}"
    figures = [
        Figure(
            name=NAME,
            summary=line(NAME, checkin, "POST /checkin, ", target, stored),
            target=target,
            method=(
                "One `companion serve` process on 127.0.0.1 (embedded SQLite, migrations applied, 16 patients with a "
                "year of data each). 16 patients log in via POST /login; a separate load-generator process holds 16 "
                "keep-alive connections, each request a full form POST /checkin (session + CSRF cookies, _csrf_token "
                "field, fresh idempotency_key, validation, insert, commit) answered 303. Closed loop, "
                f"{warmup} s warm-up then {seconds} s measured; latency from request sent to response read, at the "
                "client. Rows stored are counted in the database afterwards."
            ),
            values=checkin,
            meets_target=checkin["rps"] >= TARGET_RPS and checkin["latency_ms"]["p95"] <= TARGET_P95_MS,
        ),
        Figure(
            name=HEALTHZ_NAME,
            summary=line(
                HEALTHZ_NAME,
                healthz,
                "GET /healthz, ",
                f"comparison for {NAME}",
                f", {healthz['unexpected']} unexpected answer(s), see results/server-*.log"
                if healthz["unexpected"]
                else "",
            ),
            target=f"none (comparison for {NAME})",
            method="The same server and load generator, GET /healthz (answers 200 after a SELECT 1) on 16 connections.",
            values=healthz,
        ),
    ]
    return figures


if __name__ == "__main__":
    for figure in run(quick="--quick" in sys.argv):
        print(figure.summary)
