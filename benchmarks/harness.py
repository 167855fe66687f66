"""Shared plumbing: a throw-away ``companion serve`` process, logins, load generators, statistics.

Nothing here talks to anything but 127.0.0.1. The server runs exactly as an operator would start it
(``companion serve``, embedded SQLite in a fresh data directory, migrations applied at start), so the
figures include every middleware, guard and template of the real app.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import math
import os
import platform
import re
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
HOST = "127.0.0.1"  # the only address any benchmark sends traffic to


# --------------------------------------------------------------------------------------- results


@dataclass
class Figure:
    """One measured figure: the summary line plus the numbers behind it (for latest.json)."""

    name: str
    summary: str
    target: str
    method: str
    values: dict[str, Any] = field(default_factory=dict)
    meets_target: bool | None = None  # informational only: benchmarks never fail on a target
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def python_speed_ms() -> float:
    """CPU time of a fixed pure-Python loop (3 million additions), best of three: this machine's
    speed at the time of the run, so that figures from different machines can be compared."""

    def once() -> float:
        began, total = time.process_time(), 0
        for number in range(3_000_000):
            total += number
        return time.process_time() - began

    return round(1000 * min(once() for _ in range(3)), 1)


def machine_info() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "python_speed_ms": python_speed_ms(),
    }


def write_results(figures: Sequence[Figure], path: Path | None = None) -> Path:
    path = path or RESULTS_DIR / "latest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(),
        "figures": [figure.as_json() for figure in figures],
    }
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------ statistics


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary_ms(samples_s: Sequence[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples_s]
    return {
        "p50": round(percentile(ms, 50), 2),
        "p95": round(percentile(ms, 95), 2),
        "p99": round(percentile(ms, 99), 2),
        "mean": round(sum(ms) / len(ms), 2) if ms else math.nan,
        "max": round(max(ms), 2) if ms else math.nan,
    }


def fmt_ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 10 else f"{value:.0f} ms"


def fmt_mb(kib: int) -> str:
    return f"{kib / 1024:.0f} MB"


# ---------------------------------------------------------------------------------------- server


def companion_command() -> list[str]:
    script = Path(sys.executable).parent / "companion"
    return [str(script)] if script.exists() else [sys.executable, "-m", "companion.cli"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _listening_inodes(port: int) -> set[str]:
    wanted = f"{socket.inet_aton(HOST)[::-1].hex().upper()}:{port:04X}"
    inodes = set()
    with open("/proc/net/tcp", encoding="ascii") as table:
        next(table)
        for line in table:
            parts = line.split()
            if parts[1] == wanted and parts[3] == "0A":  # 0A = LISTEN
                inodes.add(parts[9])
    return inodes


def _owns_listener(pid: int, port: int) -> bool:
    """True when process ``pid`` holds the socket listening on ``port`` (not some other server)."""
    inodes = _listening_inodes(port)
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        for fd in fd_dir.iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return True
    except OSError:
        return False
    return False


class Server:
    """A ``companion serve`` process on 127.0.0.1 with its own data directory (embedded SQLite).

    Use as a context manager: ``prepare`` (migrate + seed) and ``start`` inside, and the process is
    stopped and the directory removed on exit.
    """

    def __init__(self, label: str):
        self.label = label
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"companion-bench-{label}-"))
        self.secret_key = secrets.token_urlsafe(48)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir / "server.log"

    # environment ------------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        # Inherited COMPANION_* settings (a PostgreSQL URL, say) must not leak into the run.
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMPANION_")}
        env.update(
            COMPANION_DATA_DIR=str(self.data_dir),
            COMPANION_SECRET_KEY=self.secret_key,
            COMPANION_BASE_URL=self.base_url if self.port else "http://127.0.0.1:8000",
        )
        return env

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "companion.db"

    # set-up -----------------------------------------------------------------------------------

    def prepare(self, seed: Callable[[Any], Awaitable[Any]]) -> Any:
        """Run ``companion migrate``, then ``seed(database)`` with the app's own Database class."""
        subprocess.run([*companion_command(), "migrate"], env=self.env(), cwd=ROOT, check=True, capture_output=True)
        return asyncio.run(self._seed(seed))

    async def _seed(self, seed: Callable[[Any], Awaitable[Any]]) -> Any:
        from companion.db import Database
        from companion.settings import load_settings

        database = Database(load_settings(self.env()).db)
        try:
            return await seed(database)
        finally:
            await database.dispose()

    def start(self, timeout: float = 60.0) -> None:
        last_error = ""
        for _attempt in range(3):  # a port taken between free_port() and bind: try another
            self.port = free_port()
            log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
            self.process = subprocess.Popen(
                [*companion_command(), "serve", "--host", HOST, "--port", str(self.port)],
                env=self.env(),
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            log.close()
            if self._wait_healthy(timeout):
                return
            last_error = self.log_tail()
            self._terminate()
        raise RuntimeError(f"companion serve did not become healthy:\n{last_error}")

    def _wait_healthy(self, timeout: float) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=2)
                conn.request("GET", "/healthz")
                status = conn.getresponse().status
                conn.close()
                if status == 200 and _owns_listener(self.process.pid, self.port):
                    return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    # observation ------------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def memory_kib(self) -> dict[str, int]:
        """VmRSS (resident now) and VmHWM (peak resident) of the server, in KiB."""
        found: dict[str, int] = {}
        with open(f"/proc/{self.pid}/status", encoding="ascii") as status:
            for line in status:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    found[key] = int(rest.split()[0])
        return found

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far (all its threads)."""
        with open(f"/proc/{self.pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def count(self, sql: str) -> int:
        """A read-only count straight from the SQLite file (WAL lets it run beside the server)."""
        with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10) as conn:
            return int(conn.execute(sql).fetchone()[0])

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # tear-down --------------------------------------------------------------------------------

    def _terminate(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self._terminate()
        # Keep the server's log (errors behind any unexpected answer) beside the results.
        if self.log_path.exists():
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.log_path, RESULTS_DIR / f"server-{self.label}.log")
        shutil.rmtree(self.data_dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------- logins


@dataclass(frozen=True)
class Client:
    """A logged-in browser: its cookies and the CSRF token to echo in forms."""

    login: str
    csrf: str
    session: str

    @property
    def cookie_header(self) -> str:
        return f"csrftoken={self.csrf}; companion_session={self.session}"

    def as_json(self) -> dict[str, str]:
        return {"cookie": self.cookie_header, "csrf": self.csrf}


def _set_cookies(response: http.client.HTTPResponse) -> dict[str, str]:
    cookies = {}
    for header in response.headers.get_all("set-cookie") or []:
        name, _, rest = header.partition("=")
        cookies[name.strip()] = rest.split(";", 1)[0]
    return cookies


def log_in(port: int, login: str, password: str) -> Client:
    """GET /login for the CSRF cookie, then POST /login; expects 303 and a session cookie."""
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request("GET", "/login")
        page = conn.getresponse()
        page.read()
        csrf = _set_cookies(page).get("csrftoken")
        if page.status != 200 or not csrf:
            raise RuntimeError(f"GET /login answered {page.status} without a csrftoken cookie")
        body = urlencode({"login": login, "password": password, "_csrf_token": csrf})
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={csrf}",
            "Origin": f"http://{HOST}:{port}",
        }
        conn.request("POST", "/login", body=body, headers=headers)
        answer = conn.getresponse()
        answer.read()
        session = _set_cookies(answer).get("companion_session")
        if answer.status != 303 or not session:
            raise RuntimeError(f"POST /login for {login} answered {answer.status} (expected 303 with a session cookie)")
        return Client(login, csrf, session)
    finally:
        conn.close()


def log_in_all(port: int, logins: Iterable[str], password: str, parallel: int = 4) -> list[Client]:
    # The server hashes at most 4 passwords at once (argon2, 64 MiB each): match that.
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        return list(pool.map(lambda login: log_in(port, login, password), logins))


# ------------------------------------------------------------------------------- load generators


def wrk_path() -> str | None:
    if os.environ.get("BENCH_LOADGEN", "").lower() == "aiohttp":
        return None
    return shutil.which("wrk")


def run_wrk(
    url: str,
    *,
    connections: int,
    duration_s: int,
    script: str = "wrk_report.lua",
    args: Sequence[str] = (),
    threads: int = 2,
) -> dict[str, Any]:
    """Run wrk with one of the Lua scripts here; they print a ``WRK_JSON {...}`` line at the end."""
    binary = wrk_path()
    assert binary is not None
    command = [
        binary,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration_s}s",
        "--timeout",
        "10s",
        "-s",
        str(BENCH_DIR / script),
        url,
    ]
    if args:
        command += ["--", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration_s + 60, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            report = json.loads(line[len("WRK_JSON ") :])
            report["generator"] = wrk_version(binary)
            return report
    raise RuntimeError(f"wrk gave no report (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")


def wrk_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout
    found = re.search(r"(\d+\.\d+(?:\.\d+)?)", out)  # "wrk debian/4.1.0-3+b2 [epoll] ..." -> 4.1.0
    return f"wrk {found.group(1)}" if found else "wrk"


def run_loadgen(spec: dict[str, Any]) -> dict[str, Any]:
    """Run benchmarks/loadgen.py (asyncio + aiohttp) in its own process with ``spec`` on stdin."""
    timeout = (spec.get("duration_s") or 0) + (spec.get("warmup_s") or 0) + 600
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.loadgen"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def write_clients_file(path: Path, clients: Sequence[Client]) -> Path:
    """One ``cookie-header<TAB>csrf`` line per client, for the wrk Lua script."""
    path.write_text("".join(f"{c.cookie_header}\t{c.csrf}\n" for c in clients), encoding="ascii")
    return path


def run_id() -> str:
    """A short unique prefix so idempotency keys never repeat between runs or phases."""
    return secrets.token_hex(4)
