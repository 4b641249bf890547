"""Bearer authentication for /api/v1: only `Authorization: Bearer <key>`; cookies never count."""
from __future__ import annotations

from functools import wraps

from flask import g, request
from flask_login import AnonymousUserMixin

from app.api import keys
from app.auth import two_factor, verification
from app.auth.models import User
from app.errors import DomainError, Forbidden
from app.extensions import db

# Names a key might be sent under in a query string; any of them is refused outright.
KEY_QUERY_NAMES = {"api_key", "apikey", "key", "token", "access_token", "auth"}


class KeyRefused(DomainError):
    status = 401
    api_code = "invalid_api_key"


class ScopeMissing(Forbidden):
    api_code = "insufficient_scope"


def authenticate_request() -> None:
    """Before every API request: the caller is the owner of a live key, or the request ends with 401.
    The user is set for this request only (Flask-Login's g._login_user), so rate limits and services see
    them; a session cookie sent along is ignored."""
    g._login_user = AnonymousUserMixin()  # never the cookie's user, whatever ran before
    if KEY_QUERY_NAMES & {name.lower() for name in request.args}:
        raise KeyRefused("API keys are accepted only in the Authorization header (Bearer).")
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise KeyRefused("Send your API key as 'Authorization: Bearer <key>'.")
    key = keys.authenticate(presented.strip())
    if key is None:
        raise KeyRefused("The API key is not valid: unknown, revoked or expired.")
    user = db.session.get(User, key.user_id)
    if user.is_awaiting_approval:  # a sign-up an admin has not approved (STUDIO_SIGNUP_APPROVAL)
        raise Forbidden("Your account is waiting for an administrator's approval.")
    if verification.needs_confirmation(user):  # STUDIO_EMAIL_VERIFICATION: the API waits like chat does
        raise Forbidden("Confirm your e-mail address first: follow the link mailed to you.")
    if two_factor.must_enrol(user):
        raise Forbidden("Your role requires two-factor sign-in; set it up in your account first.")
    g.api_key = key
    g._login_user = user


def scope_required(scope: str):
    """Route decorator: the request's key must carry `scope` (403 otherwise)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not g.api_key.allows(scope):
                raise ScopeMissing(f"This API key does not have the '{scope}' scope.")
            return view(*args, **kwargs)

        wrapped.required_scope = scope
        return wrapped

    return decorator
