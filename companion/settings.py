"""Typed settings, parsed strictly from ``COMPANION_*`` environment variables.

Nothing here is read at import time: ``load_settings(environ)`` builds one frozen ``Settings`` that is
passed to ``create_app`` and the command line. A malformed value raises ``SettingsError`` naming the
variable, so start-up stops with a message instead of running half-configured.

Secrets (``COMPANION_SECRET_KEY``) may come from ``COMPANION_SECRET_KEY_FILE``. With nothing set the
app runs embedded: SQLite in ``./var/companion.db`` and a secret generated once into ``./var/``,
readable by the owner only.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

PREFIX = "COMPANION_"
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class DatabaseSettings:
    url: str
    statement_timeout_ms: int = 10_000
    pool_size: int = 10
    sqlite_busy_timeout_ms: int = 10_000

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith("postgresql")


@dataclass(frozen=True)
class SessionSettings:
    staff_idle_minutes: int = 30
    staff_absolute_hours: int = 12
    patient_hours: int = 12
    patient_idle_minutes: int = 0  # 0: patients are not logged out for idling (issue spec)
    patient_remember_days: int = 30


@dataclass(frozen=True)
class WebSettings:
    base_url: str = "http://127.0.0.1:8000"
    secret_key: str = ""
    secure_cookies: bool = False
    trusted_proxies: tuple[str, ...] = ()
    max_body_bytes: int = 64 * 1024
    invitation_days: int = 7
    schema_enabled: bool = True
    login_concurrency: int = 4


@dataclass(frozen=True)
class PushSettings:
    """Web Push (VAPID). Without a key the embedded install generates one into the data directory."""

    vapid_private_key: str = ""  # PEM or base64url (raw or DER); from COMPANION_VAPID_PRIVATE_KEY[_FILE]
    subject: str = "mailto:notifications@companion.example.org"  # a real mailto:/https: (Apple refuses others)
    timeout_seconds: float = 10.0
    reminder_ttl_seconds: int = 4 * 3600
    alert_ttl_seconds: int = 24 * 3600
    concurrency: int = 32


@dataclass(frozen=True)
class EmailSettings:
    """SMTP. An empty host means e-mail is off (messages for the e-mail channel fail permanently)."""

    host: str = ""
    port: int = 587
    username: str = ""
    password: str = ""
    security: str = "starttls"  # "starttls", "tls" or "none"
    from_address: str = "Companion <notifications@companion.example.org>"
    timeout_seconds: float = 10.0

    @property
    def enabled(self) -> bool:
        return bool(self.host)


@dataclass(frozen=True)
class SchedulerSettings:
    enabled: bool = True  # run the jobs in `companion serve` (embedded mode only) and `companion worker`
    sweep_seconds: int = 30  # the outbox safety-net sweep and the reminder sweep
    lease_seconds: int = 60  # a claimed message is retried by another sender after this
    max_attempts: int = 8
    reminder_grace_minutes: int = 120
    batch_size: int = 200


@dataclass(frozen=True)
class AuditSettings:
    """The audit trail's separate copy (LOG-03) and emergency access (AC-06)."""

    copy_dir: Path = Path("./var/audit")  # JSON-lines copy of every audit row, one file per UTC day
    copy_sweep_seconds: int = 30  # rows a crash left uncopied are copied within this
    break_glass_minutes: int = 60  # how long an emergency access lasts (a clinic may set its own)


@dataclass(frozen=True)
class Settings:
    environment: str  # "development" or "production"
    data_dir: Path
    db: DatabaseSettings
    web: WebSettings
    sessions: SessionSettings = field(default_factory=SessionSettings)
    log_level: str = "INFO"
    push: PushSettings = field(default_factory=PushSettings)
    email: EmailSettings = field(default_factory=EmailSettings)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def embedded(self) -> bool:
        """Embedded mode: SQLite in one process, background work in-process."""
        return self.db.is_sqlite


class _Env:
    """Reads one prefixed variable at a time and raises errors that name it."""

    def __init__(self, environ: Mapping[str, str]):
        self.environ = environ

    def raw(self, name: str) -> str | None:
        value = self.environ.get(PREFIX + name)
        return value.strip() if value is not None else None

    def text(self, name: str, default: str) -> str:
        value = self.raw(name)
        return default if value in (None, "") else value

    def integer(self, name: str, default: int, minimum: int = 0, maximum: int = 10**9) -> int:
        value = self.raw(name)
        if value in (None, ""):
            return default
        try:
            number = int(value)
        except ValueError:
            raise SettingsError(f"{PREFIX}{name} must be a whole number, got {value!r}") from None
        if not minimum <= number <= maximum:
            raise SettingsError(f"{PREFIX}{name} must be between {minimum} and {maximum}, got {number}")
        return number

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value in (None, ""):
            return default
        if value.lower() in TRUE_WORDS:
            return True
        if value.lower() in FALSE_WORDS:
            return False
        raise SettingsError(f"{PREFIX}{name} must be true or false, got {value!r}")

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.text(name, default).lower()
        if value not in allowed:
            raise SettingsError(f"{PREFIX}{name} must be one of {', '.join(allowed)}, got {value!r}")
        return value

    def secret(self, name: str) -> str | None:
        """A secret from the variable itself or from the file named by ``<name>_FILE``."""
        direct, file_name = self.raw(name), self.raw(name + "_FILE")
        if direct and file_name:
            raise SettingsError(f"set either {PREFIX}{name} or {PREFIX}{name}_FILE, not both")
        if file_name:
            try:
                return Path(file_name).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise SettingsError(f"{PREFIX}{name}_FILE cannot be read: {exc.strerror}") from None
        return direct or None


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = _Env(os.environ if environ is None else environ)
    environment = env.choice("ENV", "development", ("development", "production"))
    production = environment == "production"
    data_dir = Path(env.text("DATA_DIR", "./var"))
    db = _database_settings(env, data_dir)
    secret_key = env.secret("SECRET_KEY")
    if secret_key is not None and len(secret_key) < 32:
        raise SettingsError(f"{PREFIX}SECRET_KEY must be at least 32 characters")
    if secret_key is None and production:
        raise SettingsError(f"{PREFIX}SECRET_KEY (or {PREFIX}SECRET_KEY_FILE) is required in production")
    web = WebSettings(
        base_url=_base_url(env),
        secret_key=secret_key or "",
        secure_cookies=env.boolean("SECURE_COOKIES", production),
        trusted_proxies=tuple(p for p in env.text("TRUSTED_PROXIES", "").replace(" ", "").split(",") if p),
        max_body_bytes=env.integer("MAX_BODY_BYTES", 64 * 1024, minimum=1024, maximum=10 * 1024 * 1024),
        invitation_days=env.integer("INVITATION_DAYS", 7, minimum=1, maximum=30),
        schema_enabled=env.boolean("SCHEMA_ENABLED", not production),
        login_concurrency=env.integer("LOGIN_CONCURRENCY", 4, minimum=1, maximum=64),
    )
    sessions = SessionSettings(
        staff_idle_minutes=env.integer("STAFF_IDLE_MINUTES", 30, minimum=1, maximum=24 * 60),
        staff_absolute_hours=env.integer("STAFF_ABSOLUTE_HOURS", 12, minimum=1, maximum=24 * 7),
        patient_hours=env.integer("PATIENT_SESSION_HOURS", 12, minimum=1, maximum=24 * 7),
        patient_idle_minutes=env.integer("PATIENT_IDLE_MINUTES", 0, minimum=0, maximum=24 * 60),
        patient_remember_days=env.integer("PATIENT_REMEMBER_DAYS", 30, minimum=1, maximum=90),
    )
    log_level = env.choice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper()
    return Settings(
        environment,
        data_dir,
        db,
        web,
        sessions,
        log_level,
        push=_push_settings(env),
        email=_email_settings(env),
        scheduler=_scheduler_settings(env),
        audit=_audit_settings(env, data_dir),
    )


def _push_settings(env: _Env) -> PushSettings:
    # Without a key, embedded installs generate one into the data directory; a production install
    # on PostgreSQL must configure one (`companion check` says so), since every process needs the same.
    key = env.secret("VAPID_PRIVATE_KEY") or ""
    subject = env.text("VAPID_SUBJECT", PushSettings.subject)
    if not _real_subject(subject):
        raise SettingsError(
            f"{PREFIX}VAPID_SUBJECT must be a real mailto: or https: address (push services refuse "
            f"localhost, .local and .invalid), got {subject!r}"
        )
    return PushSettings(
        vapid_private_key=key,
        subject=subject,
        timeout_seconds=env.integer("PUSH_TIMEOUT_SECONDS", 10, minimum=1, maximum=120),
        reminder_ttl_seconds=env.integer("PUSH_REMINDER_TTL_SECONDS", 4 * 3600, minimum=60, maximum=28 * 86400),
        alert_ttl_seconds=env.integer("PUSH_ALERT_TTL_SECONDS", 24 * 3600, minimum=60, maximum=28 * 86400),
        concurrency=env.integer("PUSH_CONCURRENCY", 32, minimum=1, maximum=512),
    )


def _real_subject(subject: str) -> bool:
    if subject.startswith("mailto:"):
        host = subject.rpartition("@")[2].lower()
    elif subject.startswith("https://"):
        host = (urlsplit(subject).hostname or "").lower()
    else:
        return False
    placeholder = host in ("", "localhost") or host.endswith((".local", ".invalid", ".localhost"))
    return "." in host and not placeholder


def _email_settings(env: _Env) -> EmailSettings:
    return EmailSettings(
        host=env.text("SMTP_HOST", ""),
        port=env.integer("SMTP_PORT", 587, minimum=1, maximum=65535),
        username=env.text("SMTP_USERNAME", ""),
        password=env.secret("SMTP_PASSWORD") or "",
        security=env.choice("SMTP_SECURITY", "starttls", ("starttls", "tls", "none")),
        from_address=env.text("EMAIL_FROM", EmailSettings.from_address),
        timeout_seconds=env.integer("SMTP_TIMEOUT_SECONDS", 10, minimum=1, maximum=120),
    )


def _scheduler_settings(env: _Env) -> SchedulerSettings:
    return SchedulerSettings(
        enabled=env.boolean("SCHEDULER_ENABLED", True),
        sweep_seconds=env.integer("SWEEP_SECONDS", 30, minimum=1, maximum=3600),
        lease_seconds=env.integer("DELIVERY_LEASE_SECONDS", 60, minimum=5, maximum=3600),
        max_attempts=env.integer("DELIVERY_MAX_ATTEMPTS", 8, minimum=1, maximum=50),
        reminder_grace_minutes=env.integer("REMINDER_GRACE_MINUTES", 120, minimum=1, maximum=24 * 60),
        batch_size=env.integer("DELIVERY_BATCH_SIZE", 200, minimum=1, maximum=10_000),
    )


def _audit_settings(env: _Env, data_dir: Path) -> AuditSettings:
    copy_dir = Path(env.text("AUDIT_COPY_DIR", str(data_dir / "audit")))
    if copy_dir.exists() and not copy_dir.is_dir():
        raise SettingsError(f"{PREFIX}AUDIT_COPY_DIR must be a directory, got the file {str(copy_dir)!r}")
    return AuditSettings(
        copy_dir=copy_dir,
        copy_sweep_seconds=env.integer("AUDIT_COPY_SWEEP_SECONDS", 30, minimum=1, maximum=3600),
        break_glass_minutes=env.integer("BREAK_GLASS_MINUTES", 60, minimum=5, maximum=24 * 60),
    )


def _database_settings(env: _Env, data_dir: Path) -> DatabaseSettings:
    url = env.secret("DATABASE_URL") or f"sqlite:///{data_dir / 'companion.db'}"
    url = _normalise_database_url(url)
    return DatabaseSettings(
        url=url,
        statement_timeout_ms=env.integer("DB_STATEMENT_TIMEOUT_MS", 10_000, minimum=100, maximum=600_000),
        pool_size=env.integer("DB_POOL_SIZE", 10, minimum=1, maximum=200),
    )


def _normalise_database_url(url: str) -> str:
    """Accept the usual spellings and pick the driver the app uses (SQLite: companion.sqlite_driver,
    whatever driver the URL names; ``sqlite+aiosqlite`` is still accepted from older settings)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise SettingsError(f"{PREFIX}DATABASE_URL must look like postgresql://… or sqlite:///…")
    drivers = {
        "sqlite": "sqlite",
        "sqlite+aiosqlite": "sqlite",
        "postgres": "postgresql+asyncpg",
        "postgresql": "postgresql+asyncpg",
        "postgresql+asyncpg": "postgresql+asyncpg",
    }
    if scheme not in drivers:
        raise SettingsError(f"{PREFIX}DATABASE_URL: unsupported database {scheme!r} (use sqlite or postgresql)")
    return f"{drivers[scheme]}://{rest}"


def _base_url(env: _Env) -> str:
    value = env.text("BASE_URL", "http://127.0.0.1:8000").rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"{PREFIX}BASE_URL must be an absolute http(s) address, got {value!r}")
    return value


def ensure_secret_key(settings: Settings) -> Settings:
    """Return settings with a secret key, generating one once into the data directory if needed.

    The file is created with mode 0600 so only the owner can read it; later starts reuse it, so
    sessions and CSRF tokens survive restarts.
    """
    if settings.web.secret_key:
        return settings
    path = settings.data_dir / "secret_key"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_urlsafe(48))
    key = path.read_text(encoding="utf-8").strip()
    if len(key) < 32:
        raise SettingsError(f"{path} holds a secret shorter than 32 characters; delete it to regenerate")
    return _replace_web(settings, secret_key=key)


def _replace_web(settings: Settings, **changes: object) -> Settings:
    from dataclasses import replace

    return replace(settings, web=replace(settings.web, **changes))
