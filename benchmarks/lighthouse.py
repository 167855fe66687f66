"""Figure: Lighthouse 12 (mobile) on /login, /today, /checkin and /clinic.

One ``companion serve`` process (embedded SQLite) with one patient who has a year of data (see
``benchmarks/seed.py``) and their clinician. The patient and the clinician log in through
``POST /login``; Lighthouse then loads each page once with that session's cookie in a ``Cookie``
header (``--extra-headers``), in Debian's Chromium (``CHROME_PATH=/usr/bin/chromium``), with its
default mobile form factor and simulated slow-4G throttling, three times per page after one
warm-up load (once with ``--quick``); the median run by performance score is reported. Printed per page: the performance,
accessibility and best-practices scores (0-100), the bytes transferred and the compressed bytes
of JavaScript.

Lighthouse is pinned to exactly 12.2.3 and installed with npm into ``benchmarks/.node`` (git-ignored)
the first time this runs (``npm i -E lighthouse@12.2.3``). Run alone: ``python -m benchmarks.lighthouse``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.harness import BENCH_DIR, Figure, Server, log_in
from benchmarks.seed import PASSWORD, seed_clinic

NAME = "lighthouse"
VERSION = "12.2.3"
NODE_DIR = BENCH_DIR / ".node"
CLI = NODE_DIR / "node_modules" / "lighthouse" / "cli" / "index.js"
CHROME = Path(os.environ.get("CHROME_PATH", "/usr/bin/chromium"))
CLINICIAN = "clinician@bench.example"
PAGES = (("/login", None), ("/today", "patient"), ("/checkin", "patient"), ("/clinic", "clinician"))
ATTEMPTS = 3
TARGETS = {"performance": 95, "accessibility": 100, "best-practices": 95}
CHROME_FLAGS = " ".join(
    [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
)


def ensure_lighthouse() -> Path:
    """The pinned Lighthouse CLI, installed into benchmarks/.node if it is not there yet."""
    installed = NODE_DIR / "node_modules" / "lighthouse" / "package.json"
    if installed.exists() and json.loads(installed.read_text())["version"] == VERSION:
        return CLI
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RuntimeError("Lighthouse needs Node.js and npm (apt-get install nodejs npm)")
    NODE_DIR.mkdir(exist_ok=True)
    package = NODE_DIR / "package.json"
    if not package.exists():
        package.write_text('{"name": "companion-bench-node", "private": true}\n')
    subprocess.run(
        [npm, "i", "-E", f"lighthouse@{VERSION}", "--no-audit", "--no-fund"],
        cwd=NODE_DIR,
        check=True,
        capture_output=True,
        timeout=900,
    )
    return CLI


def run_lighthouse(url: str, cookie: str | None) -> dict[str, Any]:
    command = [
        "node",
        str(ensure_lighthouse()),
        url,
        "--output=json",
        "--output-path=stdout",
        "--quiet",
        "--only-categories=performance,accessibility,best-practices",
        "--form-factor=mobile",
        f"--chrome-flags={CHROME_FLAGS}",
    ]
    if cookie:
        command.append("--extra-headers=" + json.dumps({"Cookie": cookie}))
    env = {**os.environ, "CHROME_PATH": str(CHROME)}
    error = ""
    for _attempt in range(ATTEMPTS):  # on a loaded machine Lighthouse now and then loses the trace (NO_NAVSTART)
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode == 0 and done.stdout.strip():
            report: dict[str, Any] = json.loads(done.stdout)
            if not report.get("runtimeError"):
                return report
            error = str(report["runtimeError"])
        else:
            error = done.stderr[-2000:]
    raise RuntimeError(f"lighthouse {url} failed {ATTEMPTS} times: {error}")


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    scores = {key: round((report["categories"][key]["score"] or 0) * 100) for key in TARGETS}
    requests = report["audits"]["network-requests"]["details"]["items"]
    script_bytes = sum(int(r.get("transferSize") or 0) for r in requests if r.get("resourceType") == "Script")
    failed = [
        audit_id
        for category in TARGETS
        for ref in report["categories"][category]["auditRefs"]
        if ref.get("weight")
        and (report["audits"][(audit_id := ref["id"])].get("score") not in (None, 1))
        and report["audits"][audit_id].get("scoreDisplayMode") == "binary"
    ]
    return {
        **scores,
        "bytes_transferred": int(report["audits"]["total-byte-weight"]["numericValue"]),
        "script_bytes_transferred": script_bytes,
        "requests": len(requests),
        "final_url": report.get("finalDisplayedUrl") or report.get("finalUrl"),
        "failed_binary_audits": failed,
        "lcp_ms": round(report["audits"]["largest-contentful-paint"]["numericValue"]),
        "tbt_ms": round(report["audits"]["total-blocking-time"]["numericValue"]),
    }


def run(quick: bool = False) -> list[Figure]:
    if not CHROME.exists():
        raise RuntimeError(f"{CHROME} is missing (apt-get install chromium) or set CHROME_PATH")
    ensure_lighthouse()
    repeats = 1 if quick else 3  # the median run (by performance score) is reported
    pages: dict[str, dict[str, Any]] = {}
    with Server("lighthouse") as server:
        seeded = server.prepare(lambda db: seed_clinic(db, patients=1, year_of_data=True))
        server.start()
        cookies = {
            "patient": log_in(server.port, seeded.logins[0], PASSWORD).cookie_header,
            "clinician": log_in(server.port, CLINICIAN, PASSWORD).cookie_header,
        }
        run_lighthouse(server.base_url + "/login", None)  # warm-up: a cold Chromium and server skew the first page
        for path, who in PAGES:
            runs = [
                summarise(run_lighthouse(server.base_url + path, cookies.get(who) if who else None))
                for _ in range(repeats)
            ]
            for result in runs:
                if not result["final_url"].endswith(path):
                    raise RuntimeError(f"lighthouse on {path} ended on {result['final_url']} (not logged in?)")
            runs.sort(key=lambda result: result["performance"])
            pages[path] = runs[len(runs) // 2] | {"performance_runs": [result["performance"] for result in runs]}

    meets = all(page[key] >= target for page in pages.values() for key, target in TARGETS.items())
    parts = [
        f"{path} perf {p['performance']}, a11y {p['accessibility']}, best {p['best-practices']}, "
        f"{p['bytes_transferred'] / 1024:.1f} KiB ({p['script_bytes_transferred'] / 1024:.1f} KiB JS)"
        for path, p in pages.items()
    ]
    target = "target perf >= 95, a11y 100, best practices >= 95"
    summary = f"{NAME}: " + "; ".join(parts) + f" (Lighthouse {VERSION}, mobile, simulated slow 4G) [{target}]"
    return [
        Figure(
            name=NAME,
            summary=summary,
            target=target,
            method=(
                "One `companion serve` process on 127.0.0.1 (embedded SQLite), one patient with a year of data and "
                f"their clinician, logged in via POST /login. Lighthouse {VERSION} (npm, pinned) drives Debian's "
                "Chromium headless with the default mobile form factor and simulated throttling; after a warm-up load, "
                "three runs per page (one with --quick) and the median by performance score is reported, "
                "sending the session cookie as an extra header. Bytes are Lighthouse's total-byte-weight "
                "(transferred, compressed); JS is the transfer size of script requests."
            ),
            values={"pages": pages, "lighthouse": VERSION},
            meets_target=meets,
        )
    ]


if __name__ == "__main__":
    for figure in run(quick="--quick" in sys.argv):
        print(figure.summary)
        print(json.dumps(figure.values, indent=2))
