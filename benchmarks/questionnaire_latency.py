"""Issue 3 figure: PHQ-9 submission through the whole stack, 16 concurrent clients (target p95 <= 50 ms).

One ``companion serve`` process (embedded SQLite) and 16 patients with a year of data each (see
``benchmarks/seed.py``). Each patient logs in once through ``POST /login``; then a separate load
generator (wrk with ``wrk_form.lua``; 16 Python threads when wrk is missing) keeps 16
keep-alive connections busy with ``POST /questionnaires/phq9`` form submissions (CSRF token, a
fresh idempotency key per request) back to back, closed loop, after a short warm-up. Every submission is validated, stored with its
instrument version and score, and evaluated by the risk rules with the patient's history inside
its transaction; a mild PHQ-9 raises no alert, so this is the common path. Latency is measured at
the client, from sending the request to reading the whole answer.

Run alone: ``python -m benchmarks.questionnaire_latency [--quick]``.
"""

from __future__ import annotations

import http.client
import secrets
import sys
import threading
import time
from typing import Any
from urllib.parse import urlencode

from benchmarks.harness import (
    HOST,
    Client,
    Figure,
    Server,
    fmt_ms,
    latency_summary_ms,
    log_in_all,
    run_id,
    run_wrk,
    write_clients_file,
    wrk_path,
)
from benchmarks.seed import PASSWORD, seed_clinic

NAME = "questionnaire-latency"
TARGET_P95_MS = 50
CLIENTS = 16
ANSWERS = {f"q{i}": "1" for i in range(1, 9)} | {"q9": "0", "difficulty": "1"}


def _worker(port: int, client: Client, count: int, timings: list[float], statuses: dict[int, int],
            lock: threading.Lock, start: threading.Barrier) -> None:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    headers = {
        "Cookie": client.cookie_header,
        "Content-Type": "application/x-www-form-urlencoded",
        "Origin": f"http://{HOST}:{port}",
        "Accept": "text/html",
        "User-Agent": "companion-benchmarks",
    }
    start.wait()
    for _ in range(count):
        body = urlencode(ANSWERS | {"_csrf_token": client.csrf, "idempotency_key": secrets.token_urlsafe(18)})
        began = time.perf_counter()
        conn.request("POST", "/questionnaires/phq9", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        elapsed = time.perf_counter() - began
        with lock:
            timings.append(elapsed)
            statuses[response.status] = statuses.get(response.status, 0) + 1
    conn.close()


def _wrk(server: Server, clients: list[Client], seconds: int) -> dict[str, Any]:
    clients_file = write_clients_file(server.data_dir / "clients.tsv", clients)
    args = [str(clients_file), run_id(), server.base_url, "phq9"]
    url = f"{server.base_url}/questionnaires/phq9"
    report = run_wrk(url, connections=CLIENTS, duration_s=seconds, script="wrk_form.lua", args=args)
    elapsed = report["duration_us"] / 1e6
    return {
        "requests": report["requests"],
        "latency_ms": {k: round(v / 1000, 2) for k, v in report["latency_us"].items()},
        "unexpected": report["unexpected"] + sum(report["errors"].values()) - report["errors"]["status"],
        "throughput_rps": round(report["requests"] / elapsed, 1),
        "generator": f"{report['generator']}, 16 keep-alive connections",
    }


def _run_wrk(quick: bool) -> dict[str, Any]:
    seconds, warmup = (5, 2) if quick else (20, 3)
    with Server("questionnaire") as server:
        seeded = server.prepare(lambda db: seed_clinic(db, patients=CLIENTS, year_of_data=True))
        server.start()
        clients = log_in_all(server.port, seeded.logins[:CLIENTS], PASSWORD)
        _wrk(server, clients, warmup)
        time.sleep(0.5)
        cpu_before = server.cpu_seconds()
        values = _wrk(server, clients, seconds)
        values["server_cpu_ms_per_request"] = round(1000 * (server.cpu_seconds() - cpu_before) / values["requests"], 2)
        values["stored_rows"] = server.count("SELECT count(*) FROM questionnaire_response")
    return values


def run(quick: bool = False) -> list[Figure]:
    if wrk_path():
        values = _run_wrk(quick)
    else:
        values = _run_threads(quick)
    latency = values["latency_ms"]
    values["clients"] = CLIENTS
    target = f"target p95 <= {TARGET_P95_MS} ms"
    unexpected = values["unexpected"]
    note = f", {unexpected} unexpected answers" if unexpected else ""
    per_request = values.get("server_cpu_ms_per_request")
    cpu = f", server CPU {per_request} ms per request" if per_request else ""
    summary = (f"{NAME}: p50 {fmt_ms(latency['p50'])}, p95 {fmt_ms(latency['p95'])}, p99 {fmt_ms(latency['p99'])} "
               f"({values['requests']} POST /questionnaires/phq9 from {CLIENTS} concurrent clients, SQLite, "
               f"{values['throughput_rps']} req/s, {values['generator']}{cpu}{note}) [{target}]")
    return [Figure(name=NAME, summary=summary, target=target, values=values,
                   method=__doc__.split("\n\n")[1].replace("\n", " "), meets_target=latency["p95"] <= TARGET_P95_MS)]


def _run_threads(quick: bool) -> dict[str, Any]:
    per_client = 15 if quick else 60
    with Server("questionnaire") as server:
        seeded = server.prepare(lambda db: seed_clinic(db, patients=CLIENTS, year_of_data=True))
        server.start()
        clients = log_in_all(server.port, seeded.logins[:CLIENTS], PASSWORD)
        timings: list[float] = []
        statuses: dict[int, int] = {}
        lock = threading.Lock()
        barrier = threading.Barrier(CLIENTS)
        threads = [
            threading.Thread(target=_worker, args=(server.port, c, per_client, timings, statuses, lock, barrier))
            for c in clients
        ]
        wall = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - wall
        stored = server.count("SELECT count(*) FROM questionnaire_response")

    latency = latency_summary_ms(timings)
    unexpected = sum(n for status, n in statuses.items() if status != 201)
    return {"requests": len(timings), "latency_ms": latency, "statuses": statuses, "unexpected": unexpected,
            "stored_rows": stored, "throughput_rps": round(len(timings) / wall, 1),
            "generator": "http.client, 16 threads, one keep-alive connection each"}


if __name__ == "__main__":
    for figure in run(quick="--quick" in sys.argv):
        print(figure.summary)
