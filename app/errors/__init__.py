"""Domain errors raised by services; app/errors/handlers.py maps them (and HTTP errors) to responses."""
from __future__ import annotations

from sqlalchemy.exc import OperationalError


class DomainError(Exception):
    """Base of errors a service raises; `status` is the HTTP status it maps to."""

    status = 400

    def __init__(self, message: str = ""):
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    status = 404


class Forbidden(DomainError):
    status = 403


class Conflict(DomainError):
    status = 409


class LimitReached(DomainError):
    status = 429

    def __init__(self, message: str = "", retry_after_seconds: int | None = None):
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class ValidationFailed(DomainError):
    status = 422


# PostgreSQL: lock_not_available (lock_timeout), serialization_failure, deadlock_detected.
_BUSY_SQLSTATES = {"55P03", "40001", "40P01"}


def is_database_busy(error: BaseException) -> bool:
    """Whether a database error means "another writer holds the lock": worth retrying, not a bug."""
    if not isinstance(error, OperationalError):
        return False
    if getattr(error.orig, "sqlstate", None) in _BUSY_SQLSTATES:
        return True
    return "database is locked" in str(error.orig) or "database table is locked" in str(error.orig)


def refusal_headers(error: DomainError) -> dict[str, str]:
    """Retry-After for a refusal that knows when to come back."""
    seconds = getattr(error, "retry_after_seconds", None)
    return {"Retry-After": str(seconds)} if seconds else {}
