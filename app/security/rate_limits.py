"""Request rates of expensive actions (Flask-Limiter): who is counted, how many, what a refusal says.

Each limit is a setting read at request time (LIMIT_… in app/config.py). Counters live in
RATELIMIT_STORAGE_URI: memory by default, so per process; a shared store makes them hold across
processes. Limits that must be exact (answers being written at once) are counted in the database by
the services instead (chat.services)."""
from __future__ import annotations

import math
import time

from flask import current_app
from flask_limiter import RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_login import current_user

from app.errors import LimitReached
from app.extensions import limiter


def user_or_address() -> str:
    """The signed-in person, else the address the request came from."""
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return f"address:{get_remote_address()}"


def address() -> str:
    """The address the request came from (behind STUDIO_TRUSTED_PROXIES, the client's)."""
    return f"address:{get_remote_address()}"


def _setting_per(setting: str, period: str):
    # A callable, so a changed setting (or a test's low limit) applies without a restart.
    return lambda: f"{current_app.config[setting]} per {period}"


def seconds_until_retry() -> int:
    """Seconds until the limit this request broke lets a request through again (at least one)."""
    breached = limiter.current_limit
    if breached is None:
        return 60
    # reset_at is rounded up to the next whole second; never say more than the window itself.
    return max(1, min(math.ceil(breached.reset_at - time.time()), breached.limit.get_expiry()))


def wait_in_words(seconds: int) -> str:
    """"40 seconds", "1 second", "35 minutes"."""
    if seconds < 120:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _refusal(start: str):
    return lambda: f"{start}; try again in {wait_in_words(seconds_until_retry())}."


# Everything that asks a model for an answer (send, new chat, regenerate, edit) shares one counter.
messages = limiter.shared_limit(
    _setting_per("LIMIT_MESSAGES_PER_MINUTE", "minute"), scope="messages", key_func=user_or_address,
    error_message=_refusal("You are sending messages too fast"))
imports = limiter.limit(
    _setting_per("LIMIT_IMPORTS_PER_HOUR", "hour"), key_func=user_or_address, methods=["POST"],
    error_message=_refusal("You are importing files too fast"))
searches = limiter.limit(
    _setting_per("LIMIT_SEARCHES_PER_MINUTE", "minute"), key_func=user_or_address,
    error_message=_refusal("You are searching too fast"))
registrations = limiter.limit(
    _setting_per("LIMIT_REGISTRATIONS_PER_HOUR", "hour"), key_func=address, methods=["POST"],
    error_message=_refusal("Too many accounts were created from your address"))
password_resets = limiter.limit(
    _setting_per("LIMIT_PASSWORD_RESETS_PER_HOUR", "hour"), key_func=address, methods=["POST"],
    error_message=_refusal("Too many password resets were asked from your address"))


def as_limit_reached(error: RateLimitExceeded) -> LimitReached:
    """The limiter's refusal as the domain error every page maps to a 429 (with Retry-After)."""
    return LimitReached(error.description, retry_after_seconds=seconds_until_retry())
