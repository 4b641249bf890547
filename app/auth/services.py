"""Account rules: registration, sign-in with throttling, revocable sessions, profile and password."""
from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select

from app.auth.models import AuthEvent, User, UserSession
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.models.base import utcnow
from app.security.audit import record_audit
from app.security.origin import Origin

password_hasher = PasswordHasher()  # argon2id with the library's current parameters
# Verified against when the account is unknown, so both paths cost the same time.
_DUMMY_HASH = password_hasher.hash(secrets.token_urlsafe(16))
LAST_SEEN_RESOLUTION = timedelta(seconds=60)


class LoginRefused(DomainError):
    status = 200  # the form is re-rendered with the message

    def __init__(self, message: str, *, throttled: bool = False):
        super().__init__(message)
        self.throttled = throttled


INCORRECT_CREDENTIALS = "Email or password is incorrect."


def normalize_email(email: str) -> str:
    return email.strip().lower()


def hash_password(password: str) -> str:
    return password_hasher.hash(password)


def password_matches(user: User | None, password: str) -> bool:
    """Check a password in constant-ish time whether or not the account exists."""
    try:
        return password_hasher.verify(user.hashed_password if user else _DUMMY_HASH, password) and bool(user)
    except (VerificationError, InvalidHashError):
        return False


def get_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalize_email(email)))


def create_user(email: str, display_name: str, password: str, role: str | None = None) -> User:
    """Create an account; the first account ever becomes admin. Raises Conflict if the e-mail is taken."""
    email = normalize_email(email)
    if get_user_by_email(email) is not None:
        raise Conflict("An account with this e-mail already exists.")
    if role is None:
        has_users = db.session.scalar(select(User.id).limit(1)) is not None
        role = "user" if has_users else "admin"
    user = User(email=email, display_name=display_name.strip(), hashed_password=hash_password(password), role=role)
    db.session.add(user)
    db.session.flush()
    return user


def register(email: str, display_name: str, password: str, origin: Origin) -> tuple[User, str]:
    """Create an account and sign it in; returns the user and the new session token."""
    user = create_user(email, display_name, password)
    _record_event(user.id, "register", user.email, origin, success=True)
    token = _start_session(user, origin)
    db.session.commit()
    return user, token


def _record_event(user_id, event_type, identifier, origin: Origin, *, success, reason=None) -> None:
    db.session.add(
        AuthEvent(
            user_id=user_id,
            event_type=event_type,
            login_identifier=identifier,
            ip_address=origin.ip_address,
            user_agent=origin.user_agent,
            success=success,
            failure_reason=reason,
        )
    )


def _recent_failures(config: dict, *, identifier: str | None = None, ip_address: str | None = None) -> int:
    since = utcnow() - timedelta(seconds=config["LOGIN_WINDOW_SECONDS"])
    query = select(func.count(AuthEvent.id)).where(
        AuthEvent.event_type == "login",
        AuthEvent.success.is_(False),
        AuthEvent.failure_reason != "throttled",
        AuthEvent.created_at >= since,
    )
    if identifier is not None:
        query = query.where(AuthEvent.login_identifier == identifier)
    if ip_address is not None:
        query = query.where(AuthEvent.ip_address == ip_address)
    return db.session.scalar(query) or 0


def log_in(email: str, password: str, origin: Origin, config: dict) -> tuple[User, str]:
    """Check credentials under throttling; returns the user and a new session token or raises LoginRefused."""
    identifier = normalize_email(email)[:254]
    account_failures = _recent_failures(config, identifier=identifier)
    ip_failures = _recent_failures(config, ip_address=origin.ip_address) if origin.ip_address else 0
    user = get_user_by_email(identifier)

    if (
        account_failures >= config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
        or ip_failures >= config["LOGIN_MAX_FAILURES_PER_IP"]
    ):
        # Same answer whether the password is right or the account exists at all.
        _record_event(user.id if user else None, "login", identifier, origin, success=False, reason="throttled")
        record_audit(None, "user", user.id if user else None, "login_throttled",
                     after={"login": identifier, "account_failures": account_failures, "ip_failures": ip_failures},
                     ip_address=origin.ip_address, user_agent=origin.user_agent)
        db.session.commit()
        minutes = max(1, config["LOGIN_WINDOW_SECONDS"] // 60)
        raise LoginRefused(
            f"Too many failed sign-in attempts. Sign-in is paused for up to {minutes} minutes; try again later.",
            throttled=True,
        )

    # Slow down guessing before refusing outright.
    slow_after = max(1, config["LOGIN_MAX_FAILURES_PER_ACCOUNT"] - 2)
    if account_failures >= slow_after:
        time.sleep(min(3.0, config["LOGIN_SLOWDOWN_SECONDS"] * (account_failures - slow_after + 1)))

    if not password_matches(user, password):
        reason = "bad_password" if user else "unknown_account"
        _record_event(user.id if user else None, "login", identifier, origin, success=False, reason=reason)
        db.session.commit()
        raise LoginRefused(INCORRECT_CREDENTIALS)
    if not user.is_active_account:
        _record_event(user.id, "login", identifier, origin, success=False, reason="deactivated")
        db.session.commit()
        raise LoginRefused("This account is deactivated. Ask an administrator.")

    if password_hasher.check_needs_rehash(user.hashed_password):
        user.hashed_password = hash_password(password)
    user.last_login_at = utcnow()
    _record_event(user.id, "login", identifier, origin, success=True)
    token = _start_session(user, origin)
    db.session.commit()
    return user, token


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _describe_client(user_agent: str | None) -> tuple[str | None, str | None, str]:
    """A rough browser / platform / device from the user agent, for the sessions list."""
    ua = user_agent or ""
    browser = next(
        (name for key, name in (("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
                                ("Safari/", "Safari"), ("curl/", "curl"), ("python", "Script"))
         if key in ua),
        None,
    )
    platform = next(
        (name for key, name in (("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"),
                                ("Windows", "Windows"), ("Mac OS X", "macOS"), ("Linux", "Linux"))
         if key in ua),
        None,
    )
    device = "phone" if ("Mobile" in ua or "iPhone" in ua) else "computer"
    return browser, platform, device


def _mask_ip(ip_address: str | None) -> str | None:
    if not ip_address:
        return None
    if "." in ip_address:
        return ".".join(ip_address.split(".")[:3] + ["x"])
    return ":".join(ip_address.split(":")[:3] + ["x"])


def _start_session(user: User, origin: Origin) -> str:
    token = secrets.token_urlsafe(32)
    browser, platform, device = _describe_client(origin.user_agent)
    db.session.add(
        UserSession(
            user_id=user.id,
            refresh_jti=_token_digest(token),
            ip_masked=_mask_ip(origin.ip_address),
            user_agent=origin.user_agent,
            client_browser=browser,
            client_platform=platform,
            client_device=device,
            last_seen_at=utcnow(),
        )
    )
    user._session_token = token
    return token


def load_session_user(token: str) -> User | None:
    """The active user behind a session token, or None if the session was revoked or the user deactivated."""
    if not token or len(token) > 100:
        return None
    session_row = db.session.scalar(
        select(UserSession).where(UserSession.refresh_jti == _token_digest(token), UserSession.revoked_at.is_(None))
    )
    if session_row is None or not session_row.user.is_active_account:
        return None
    now = utcnow()
    if session_row.last_seen_at is None or now - session_row.last_seen_at > LAST_SEEN_RESOLUTION:
        session_row.last_seen_at = now
        db.session.commit()
    user = session_row.user
    user._session_token = token
    user.current_session = session_row
    return user


def log_out(user: User, origin: Origin) -> None:
    """End the current session on the server."""
    if user.current_session is not None:
        user.current_session.revoked_at = utcnow()
        user.current_session.revoked_reason = "logout"
    _record_event(user.id, "logout", user.email, origin, success=True)
    db.session.commit()


def list_active_sessions(user: User) -> list[UserSession]:
    return list(
        db.session.scalars(
            select(UserSession)
            .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
            .order_by(UserSession.last_seen_at.desc())
            .limit(100)
        )
    )


def revoke_session(user: User, session_id: uuid.UUID, origin: Origin) -> UserSession:
    """Revoke one of the user's own sessions (another user's answers NotFound)."""
    session_row = db.session.get(UserSession, session_id)
    if session_row is None or session_row.user_id != user.id or session_row.revoked_at is not None:
        raise NotFound("That session does not exist or has already ended.")
    session_row.revoked_at = utcnow()
    session_row.revoked_reason = "revoked by user"
    _record_event(user.id, "session_revoked", user.email, origin, success=True)
    record_audit(user.id, "user_session", session_row.id, "revoke",
                 ip_address=origin.ip_address, user_agent=origin.user_agent)
    db.session.commit()
    return session_row


def _revoke_all_sessions_of(user_id: uuid.UUID, *, except_id: uuid.UUID | None, reason: str) -> int:
    query = select(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
    if except_id is not None:
        query = query.where(UserSession.id != except_id)
    rows = list(db.session.scalars(query))
    for row in rows:
        row.revoked_at = utcnow()
        row.revoked_reason = reason
    return len(rows)


def revoke_other_sessions(user: User, origin: Origin) -> int:
    """Sign out every other browser of this user; returns how many were ended."""
    current_id = user.current_session.id if user.current_session else None
    count = _revoke_all_sessions_of(user.id, except_id=current_id, reason="revoked by user")
    _record_event(user.id, "sessions_revoked", user.email, origin, success=True)
    record_audit(user.id, "user", user.id, "revoke_other_sessions", after={"count": count},
                 ip_address=origin.ip_address, user_agent=origin.user_agent)
    db.session.commit()
    return count


def end_all_sessions(user_id: uuid.UUID, reason: str) -> int:
    """Revoke every session of an account (deactivation); the caller commits."""
    return _revoke_all_sessions_of(user_id, except_id=None, reason=reason)


def update_profile(user: User, display_name: str, origin: Origin) -> None:
    before = {"display_name": user.display_name}
    user.display_name = display_name.strip()
    record_audit(user.id, "user", user.id, "update_profile", before=before,
                 after={"display_name": user.display_name},
                 ip_address=origin.ip_address, user_agent=origin.user_agent)
    db.session.commit()


def change_password(user: User, current_password: str, new_password: str, origin: Origin) -> bool:
    """Change the password if the current one is right; other sessions are signed out."""
    if not password_matches(user, current_password):
        _record_event(user.id, "password_change", user.email, origin, success=False, reason="bad_password")
        db.session.commit()
        return False
    user.hashed_password = hash_password(new_password)
    current_id = user.current_session.id if user.current_session else None
    _revoke_all_sessions_of(user.id, except_id=current_id, reason="password changed")
    _record_event(user.id, "password_change", user.email, origin, success=True)
    record_audit(user.id, "user", user.id, "change_password",
                 ip_address=origin.ip_address, user_agent=origin.user_agent)
    db.session.commit()
    return True
