"""Login throttling holds across two real web processes sharing one database (RATE-01)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

COMPANION = str(Path(sys.executable).parent / "companion")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(env: dict[str, str], port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [COMPANION, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    pytest.fail(f"server on port {port} did not start")


def attempt(base: str, login: str, password: str) -> int:
    with httpx.Client(base_url=base) as client:
        client.get("/login")
        token = client.cookies["csrftoken"]
        response = client.post("/login", data={"login": login, "password": password, "_csrf_token": token})
        return response.status_code


async def test_failures_on_two_processes_add_up(settings, personas, tmp_path):
    env = {
        **os.environ,
        "COMPANION_DATABASE_URL": settings.db.url,
        "COMPANION_DATA_DIR": str(tmp_path),
        "COMPANION_SECRET_KEY": settings.web.secret_key,
    }
    ports = [free_port(), free_port()]
    servers = [start_server(env, port) for port in ports]
    try:
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        statuses = [attempt(bases[i % 2], personas.alice.login, "wrong guess") for i in range(5)]
        assert statuses == [401] * 5
        # Five failures were spread over both processes; either one now makes the caller wait.
        assert attempt(bases[0], personas.alice.login, "wrong guess") == 429
        assert attempt(bases[1], personas.alice.login, "wrong guess") == 429
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)
