"""The `companion` command as operators run it: real processes, real database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

COMPANION = str(Path(sys.executable).parent / "companion")


def run(args, env, stdin=""):
    return subprocess.run([COMPANION, *args], input=stdin, capture_output=True, text=True, env=env, timeout=60)


@pytest.fixture
def cli_env(tmp_path):
    return {**os.environ, "COMPANION_DATA_DIR": str(tmp_path), "COMPANION_BASE_URL": "http://127.0.0.1:8000"}


def test_migrate_user_invite_and_check(cli_env):
    assert run(["check"], cli_env).returncode == 1  # empty database: migrations not current
    assert run(["migrate"], cli_env).returncode == 0
    check = run(["check"], cli_env)
    assert check.returncode == 0 and "migrations: current" in check.stdout
    created = run(
        [
            "user",
            "create",
            "--role",
            "clinician",
            "--email",
            "carol@x.example",
            "--name",
            "Carol C",
            "--clinic",
            "Demo",
        ],
        cli_env,
        "a long quiet walk\n",
    )
    assert created.returncode == 0, created.stderr
    invited = run(["patient", "invite", "--name", "Pat Patient", "--clinician", "carol@x.example"], cli_env)
    assert invited.returncode == 0, invited.stderr
    assert invited.stdout.strip().splitlines()[-1].startswith("http://127.0.0.1:8000/invite/")


def test_user_create_generates_a_password_when_stdin_is_empty(cli_env):
    run(["migrate"], cli_env)
    created = run(
        ["user", "create", "--role", "admin", "--email", "ada@x.example", "--name", "Ada", "--clinic", "Demo"], cli_env
    )
    assert created.returncode == 0 and "Generated password:" in created.stdout


def test_weak_password_and_unknown_clinician_are_refused(cli_env):
    run(["migrate"], cli_env)
    weak = run(
        ["user", "create", "--role", "admin", "--email", "a@x.example", "--name", "A", "--clinic", "D"],
        cli_env,
        "password\n",
    )
    assert weak.returncode != 0 and "too common" in weak.stderr
    missing = run(["patient", "invite", "--name", "P", "--clinician", "nobody@x.example"], cli_env)
    assert missing.returncode != 0 and "no active clinician" in missing.stderr


def test_bad_setting_stops_with_the_variable_named(cli_env):
    result = run(["check"], {**cli_env, "COMPANION_STAFF_IDLE_MINUTES": "soon"})
    assert result.returncode != 0 and "COMPANION_STAFF_IDLE_MINUTES" in result.stderr


def test_check_reports_unreachable_database(cli_env):
    env = {**cli_env, "COMPANION_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    result = run(["check"], env)
    assert result.returncode == 1 and "NOT REACHABLE" in result.stdout


def test_vapid_generate_once_and_print_the_public_key(cli_env, tmp_path):
    missing = run(["vapid"], {**cli_env, "COMPANION_DATABASE_URL": "postgresql://nobody@127.0.0.1/none"})
    assert missing.returncode == 1 and "COMPANION_VAPID_PRIVATE_KEY" in missing.stderr
    generated = run(["vapid", "--generate"], cli_env)
    assert generated.returncode == 0, generated.stderr
    key_file = tmp_path / "vapid_private_key.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    public = generated.stdout.strip()
    assert len(public) == 87 and set(public) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert run(["vapid"], cli_env).stdout.strip() == public
    assert run(["vapid", "--generate"], cli_env).returncode == 1  # never overwrites: rotating breaks subscriptions
    from_settings = run(["vapid"], {**cli_env, "COMPANION_VAPID_PRIVATE_KEY_FILE": str(key_file),
                                    "COMPANION_DATA_DIR": str(tmp_path / "elsewhere")})
    assert from_settings.stdout.strip() == public
