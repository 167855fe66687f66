"""Settings: strict parsing with messages that name the variable; secrets generated once, owner-only."""

from __future__ import annotations

import stat

import pytest

from companion.settings import SettingsError, ensure_secret_key, load_settings


def test_defaults_run_embedded_on_sqlite_in_var():
    settings = load_settings({})
    assert settings.db.url == "sqlite:///var/companion.db"
    assert settings.embedded and not settings.production
    assert settings.sessions.staff_idle_minutes == 30 and settings.sessions.patient_remember_days == 30


def test_older_sqlite_spelling_still_names_the_embedded_database():
    settings = load_settings({"COMPANION_DATABASE_URL": "sqlite+aiosqlite:///data/clinic.db"})
    assert settings.db.url == "sqlite:///data/clinic.db" and settings.embedded


def test_postgres_url_switches_engine():
    settings = load_settings({"COMPANION_DATABASE_URL": "postgresql://u@db.example/companion"})
    assert settings.db.url == "postgresql+asyncpg://u@db.example/companion"
    assert settings.db.is_postgres and not settings.embedded


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("COMPANION_DATABASE_URL", "mysql://x/y", "COMPANION_DATABASE_URL"),
        ("COMPANION_DATABASE_URL", "nonsense", "COMPANION_DATABASE_URL"),
        ("COMPANION_STAFF_IDLE_MINUTES", "ten", "COMPANION_STAFF_IDLE_MINUTES"),
        ("COMPANION_STAFF_IDLE_MINUTES", "0", "COMPANION_STAFF_IDLE_MINUTES"),
        ("COMPANION_SECURE_COOKIES", "maybe", "COMPANION_SECURE_COOKIES"),
        ("COMPANION_ENV", "staging", "COMPANION_ENV"),
        ("COMPANION_BASE_URL", "ftp://x", "COMPANION_BASE_URL"),
        ("COMPANION_SECRET_KEY", "short", "COMPANION_SECRET_KEY"),
        ("COMPANION_MAX_BODY_BYTES", "1", "COMPANION_MAX_BODY_BYTES"),
    ],
)
def test_malformed_values_name_the_variable(name, value, fragment):
    with pytest.raises(SettingsError) as raised:
        load_settings({name: value})
    assert fragment in str(raised.value)


def test_production_requires_a_secret_and_turns_on_secure_cookies():
    with pytest.raises(SettingsError, match="COMPANION_SECRET_KEY"):
        load_settings({"COMPANION_ENV": "production"})
    settings = load_settings({"COMPANION_ENV": "production", "COMPANION_SECRET_KEY": "k" * 40})
    assert settings.web.secure_cookies and not settings.web.schema_enabled


def test_secret_from_file(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("s" * 40 + "\n")
    assert load_settings({"COMPANION_SECRET_KEY_FILE": str(secret_file)}).web.secret_key == "s" * 40
    with pytest.raises(SettingsError, match="COMPANION_SECRET_KEY_FILE"):
        load_settings({"COMPANION_SECRET_KEY_FILE": str(tmp_path / "missing")})
    with pytest.raises(SettingsError, match="not both"):
        load_settings({"COMPANION_SECRET_KEY_FILE": str(secret_file), "COMPANION_SECRET_KEY": "x" * 40})


def test_generated_secret_is_kept_and_owner_only(tmp_path):
    settings = load_settings({"COMPANION_DATA_DIR": str(tmp_path)})
    first = ensure_secret_key(settings).web.secret_key
    second = ensure_secret_key(settings).web.secret_key
    assert first == second and len(first) >= 32
    mode = stat.S_IMODE((tmp_path / "secret_key").stat().st_mode)
    assert mode == 0o600
