"""Settings read from the environment, with safe defaults (documented in README.md)."""
from __future__ import annotations

import os
import secrets
from pathlib import Path


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _names(value: str) -> tuple[str, ...]:
    """A comma-separated list of names, blanks dropped."""
    return tuple(name.strip() for name in value.split(",") if name.strip())


def load_secret_key(instance_path: Path) -> str:
    """Return SECRET_KEY from the environment, else one generated once and kept in instance/."""
    from_env = os.environ.get("SECRET_KEY")
    if from_env:
        return from_env
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # Created readable by the owner only: it signs every session cookie.
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def build_config(instance_path: Path) -> dict:
    """Collect the app's configuration from environment variables."""
    is_production = os.environ.get("STUDIO_ENV", "development") == "production"
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance_path / 'studio.sqlite3'}"
    if database_url.startswith("postgres://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgres://"):]
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://"):]
    return {
        "STUDIO_ENV": "production" if is_production else "development",
        "SECRET_KEY": load_secret_key(instance_path),
        # Keys for two-factor secrets at rest, newest first (the first seals, each opens); empty: SECRET_KEY.
        "TOTP_ENCRYPTION_KEYS": _names(os.environ.get("STUDIO_TOTP_ENCRYPTION_KEYS", "")),
        "SQLALCHEMY_DATABASE_URI": database_url,
        # A pooled connection unused this long is pinged before use (extensions.ping_connections_idle_for).
        "SQLALCHEMY_ENGINE_OPTIONS": {},
        "DATABASE_PING_AFTER_IDLE_SECONDS": float(os.environ.get("STUDIO_DATABASE_PING_AFTER_IDLE_SECONDS") or 5),
        "MAX_CONTENT_LENGTH": int(os.environ.get("STUDIO_MAX_CONTENT_LENGTH", 2 * 1024 * 1024)),
        "MAX_FORM_MEMORY_SIZE": 1024 * 1024,
        # Token bound to the session, not to a clock: an open chat tab keeps working.
        "WTF_CSRF_TIME_LIMIT": None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool("STUDIO_SECURE_COOKIES", is_production),
        "SESSION_COOKIE_NAME": "studio_session",
        # Idle lifetime: a sign-in unused this long ends (the cookie and the server-side row).
        "PERMANENT_SESSION_LIFETIME": int(os.environ.get("STUDIO_SESSION_DAYS", 30)) * 86400,
        # Absolute lifetime: a sign-in ends this long after it began, however active.
        "SESSION_ABSOLUTE_LIFETIME": int(os.environ.get("STUDIO_SESSION_MAX_DAYS", 30)) * 86400,
        "REMEMBER_COOKIE_SECURE": _bool("STUDIO_SECURE_COOKIES", is_production),
        "PREFERRED_URL_SCHEME": "https" if is_production else "http",
        # Login throttling: failures counted over a window. A hard stop per (account, address) pair and
        # per address; failures on an account from elsewhere only slow it down (no lockout).
        "LOGIN_WINDOW_SECONDS": int(os.environ.get("STUDIO_LOGIN_WINDOW_SECONDS", 900)),
        "LOGIN_MAX_FAILURES_PER_ACCOUNT": int(os.environ.get("STUDIO_LOGIN_MAX_FAILURES", 5)),
        "LOGIN_MAX_FAILURES_PER_IP": int(os.environ.get("STUDIO_LOGIN_MAX_FAILURES_IP", 20)),
        "LOGIN_SLOWDOWN_SECONDS": float(os.environ.get("STUDIO_LOGIN_SLOWDOWN_SECONDS", 0.5)),
        # Argon2id cost, RFC 9106's low-memory profile: 64 MiB, 3 passes, 4 lanes. Old hashes carry
        # their own parameters, so they verify after a change and are re-hashed at the next sign-in.
        "PASSWORD_HASH_PARAMS": {
            "time_cost": int(os.environ.get("STUDIO_ARGON2_TIME_COST", 3)),
            "memory_cost": int(os.environ.get("STUDIO_ARGON2_MEMORY_KIB", 65536)),
            "parallelism": int(os.environ.get("STUDIO_ARGON2_PARALLELISM", 4)),
        },
        # Password hashes running at once in one process (each holds the memory cost above).
        "MAX_CONCURRENT_HASHES": int(os.environ.get("STUDIO_MAX_CONCURRENT_HASHES", 4)),
        # New accounts wait for an admin's approval (the first account, the admin, never does).
        "SIGNUP_APPROVAL": _bool("STUDIO_SIGNUP_APPROVAL", False),
        # New sign-ups confirm their e-mail address by a mailed link before they can chat.
        "EMAIL_VERIFICATION": _bool("STUDIO_EMAIL_VERIFICATION", False),
        # Off: no password sign-in or sign-up (single sign-on only; `flask users reset-password` stays).
        "PASSWORD_LOGIN": _bool("STUDIO_PASSWORD_LOGIN", True),
        # Where Studio is reached: links in mails are built from it (no request to take the host from).
        "STUDIO_BASE_URL": os.environ.get("STUDIO_BASE_URL", "http://localhost:5000"),
        # E-mail through an SMTP server (Flask-Mail); without MAIL_SERVER nothing is mailed.
        "MAIL_SERVER": os.environ.get("MAIL_SERVER", ""),
        "MAIL_PORT": int(os.environ.get("MAIL_PORT", 587)),
        "MAIL_USE_TLS": _bool("MAIL_USE_TLS", True),
        "MAIL_USE_SSL": _bool("MAIL_USE_SSL", False),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD") or None,
        "MAIL_DEFAULT_SENDER": os.environ.get("MAIL_DEFAULT_SENDER", "Studio <studio@localhost>"),
        # Password reset: mails per account per hour, and requests per address per hour.
        "PASSWORD_RESETS_PER_ACCOUNT_PER_HOUR": int(os.environ.get("STUDIO_PASSWORD_RESETS_PER_ACCOUNT", 3)),
        "LIMIT_PASSWORD_RESETS_PER_HOUR": int(os.environ.get("STUDIO_LIMIT_PASSWORD_RESETS_PER_HOUR", 10)),
        # Single sign-on through an OpenID Connect provider (off without an issuer).
        "OIDC_ISSUER": os.environ.get("STUDIO_OIDC_ISSUER", "").rstrip("/"),
        "OIDC_CLIENT_ID": os.environ.get("STUDIO_OIDC_CLIENT_ID", ""),
        "OIDC_CLIENT_SECRET": os.environ.get("STUDIO_OIDC_CLIENT_SECRET", ""),
        "OIDC_LABEL": os.environ.get("STUDIO_OIDC_LABEL", "single sign-on"),
        "OIDC_SCOPES": os.environ.get("STUDIO_OIDC_SCOPES", "openid email profile"),
        "OIDC_ADMIN_GROUP": os.environ.get("STUDIO_OIDC_ADMIN_GROUP", ""),
        "OIDC_MODERATOR_GROUP": os.environ.get("STUDIO_OIDC_MODERATOR_GROUP", ""),
        # Payments through Stripe (off unless both the secret key and the webhook signing secret are set).
        # STUDIO_STRIPE_API_BASE points the SDK elsewhere (tests: a local fake); empty means Stripe's own.
        "STRIPE_SECRET_KEY": os.environ.get("STUDIO_STRIPE_SECRET_KEY", ""),
        "STRIPE_WEBHOOK_SECRET": os.environ.get("STUDIO_STRIPE_WEBHOOK_SECRET", ""),
        "STRIPE_PUBLISHABLE_KEY": os.environ.get("STUDIO_STRIPE_PUBLISHABLE_KEY", ""),
        "STRIPE_API_BASE": os.environ.get("STUDIO_STRIPE_API_BASE", "").rstrip("/"),
        "STRIPE_NETWORK_RETRIES": int(os.environ.get("STUDIO_STRIPE_NETWORK_RETRIES", 2)),
        "STRIPE_TIMEOUT_SECONDS": float(os.environ.get("STUDIO_STRIPE_TIMEOUT_SECONDS", 20)),
        # A webhook's handlers are tried this many times (backoff from JOBS_RETRY_BASE_SECONDS), then left failed.
        "STRIPE_DISPATCH_MAX_ATTEMPTS": int(os.environ.get("STUDIO_STRIPE_DISPATCH_MAX_ATTEMPTS", 8)),
        # Trust X-Forwarded-For only when told how many proxies stand in front.
        "TRUSTED_PROXY_COUNT": int(os.environ.get("STUDIO_TRUSTED_PROXIES", 0)),
        # Imports: the largest upload (stored on disk, read by a background job) and where uploads
        # wait; what one person may hold, imports included (conversations, and message text in MB).
        "IMPORT_MAX_BYTES": int(os.environ.get("STUDIO_IMPORT_MAX_MB", 500)) * 1024 * 1024,
        "IMPORT_UPLOAD_DIR": os.environ.get("STUDIO_IMPORT_UPLOAD_DIR") or str(instance_path / "imports"),
        "IMPORT_BATCH_SIZE": int(os.environ.get("STUDIO_IMPORT_BATCH_SIZE", 25)),
        "MAX_CONVERSATIONS_PER_USER": int(os.environ.get("STUDIO_MAX_CONVERSATIONS_PER_USER", 100_000)),
        "MAX_STORAGE_MB_PER_USER": int(os.environ.get("STUDIO_MAX_STORAGE_MB_PER_USER", 2048)),
        # Projects: where files are stored (by content hash), what one upload and one project may hold
        # (files, bytes per file, bytes in all, zip expansion ratio), and the gauntlet's limits.
        "PROJECT_STORAGE": os.environ.get("STUDIO_PROJECT_STORAGE") or str(instance_path / "projects"),
        "PROJECT_MAX_FILES": int(os.environ.get("STUDIO_PROJECT_MAX_FILES", 2000)),
        "PROJECT_MAX_FILE_BYTES": int(os.environ.get("STUDIO_PROJECT_MAX_FILE_MB", 5)) * 1024 * 1024,
        "PROJECT_MAX_TOTAL_BYTES": int(os.environ.get("STUDIO_PROJECT_MAX_TOTAL_MB", 50)) * 1024 * 1024,
        "PROJECT_MAX_ZIP_RATIO": int(os.environ.get("STUDIO_PROJECT_MAX_ZIP_RATIO", 100)),
        "GAUNTLET_TIMEOUT_SECONDS": float(os.environ.get("STUDIO_GAUNTLET_TIMEOUT_SECONDS", 120)),
        "GAUNTLET_CPU_SECONDS": int(os.environ.get("STUDIO_GAUNTLET_CPU_SECONDS", 120)),
        "GAUNTLET_MEMORY_MB": int(os.environ.get("STUDIO_GAUNTLET_MEMORY_MB", 1024)),
        # Background jobs: a worker thread in each app process (off when only `flask jobs work` should
        # run them), how often idle workers look, when a silent worker's job is taken over, retry wait.
        "JOBS_WORKER_THREAD": _bool("STUDIO_JOBS_WORKER_THREAD", True),
        "JOBS_POLL_SECONDS": float(os.environ.get("STUDIO_JOBS_POLL_SECONDS", 2.0)),
        "JOBS_STALE_SECONDS": float(os.environ.get("STUDIO_JOBS_STALE_SECONDS", 60.0)),
        "JOBS_RETRY_BASE_SECONDS": float(os.environ.get("STUDIO_JOBS_RETRY_BASE_SECONDS", 5.0)),
        # Request rates (Flask-Limiter). memory:// counts in each process; a shared store such as
        # redis://host:6379 makes the rates hold across processes and hosts.
        "RATELIMIT_STORAGE_URI": os.environ.get("STUDIO_RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_ENABLED": _bool("STUDIO_RATELIMIT_ENABLED", True),
        "LIMIT_MESSAGES_PER_MINUTE": int(os.environ.get("STUDIO_LIMIT_MESSAGES_PER_MINUTE", 20)),
        "LIMIT_IMPORTS_PER_HOUR": int(os.environ.get("STUDIO_LIMIT_IMPORTS_PER_HOUR", 10)),
        "LIMIT_SEARCHES_PER_MINUTE": int(os.environ.get("STUDIO_LIMIT_SEARCHES_PER_MINUTE", 60)),
        "LIMIT_REGISTRATIONS_PER_HOUR": int(os.environ.get("STUDIO_LIMIT_REGISTRATIONS_PER_HOUR", 10)),
        # Answers being written at once per person, counted in the database (exact across processes).
        "LIMIT_CONCURRENT_GENERATIONS": int(os.environ.get("STUDIO_LIMIT_CONCURRENT_GENERATIONS", 3)),
        # The model registry: key variables allowed besides *_API_KEY, and whether models may live on
        # private or loopback hosts (link-local and metadata addresses are refused regardless).
        "MODEL_KEY_VARIABLES": _names(os.environ.get("STUDIO_MODEL_KEY_VARIABLES", "")),
        "ALLOW_PRIVATE_MODEL_HOSTS": _bool("STUDIO_ALLOW_PRIVATE_MODEL_HOSTS", False),
        # A 429, a 5xx or a refused connection before any text is sent again this many times, after
        # exponential backoff with jitter from the base wait (or the provider's Retry-After); a
        # provider asking to wait longer than the longest wait is not retried.
        "MODEL_RETRIES": int(os.environ.get("STUDIO_MODEL_RETRIES", 2)),
        "MODEL_RETRY_BASE_SECONDS": float(os.environ.get("STUDIO_MODEL_RETRY_BASE_SECONDS", 1.0)),
        "MODEL_RETRY_MAX_WAIT_SECONDS": float(os.environ.get("STUDIO_MODEL_RETRY_MAX_WAIT_SECONDS", 30.0)),
        # The demo model's pace, in seconds between chunks (normal, and for `[[echo:slow]]`).
        "ECHO_DELAY_SECONDS": float(os.environ.get("STUDIO_ECHO_DELAY") or 0.03),
        "ECHO_SLOW_DELAY_SECONDS": float(os.environ.get("STUDIO_ECHO_SLOW_DELAY") or 0.3),
        # Streams wake on notification (PostgreSQL LISTEN/NOTIFY on a direct connection, not through
        # PgBouncer; in-process on SQLite) and read again at least this often, so nothing is lost.
        "STREAM_NOTIFY": _bool("STUDIO_STREAM_NOTIFY", True),
        "NOTIFY_DATABASE_URL": os.environ.get("STUDIO_NOTIFY_DATABASE_URL") or None,
        "STREAM_FALLBACK_POLL_SECONDS": float(os.environ.get("STUDIO_STREAM_FALLBACK_POLL_SECONDS") or 2.0),
    }
