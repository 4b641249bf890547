"""Account rules: registration, sign-in with throttling, revocable sessions, profile and password."""
from __future__ import annotations

import functools
import hashlib
import secrets
import threading
import time
import uuid
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import bindparam, func, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from app.auth.models import AuthEvent, User, UserSession
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.models.base import commit_keeping_loaded, utcnow
from app.security.audit import AuditLog, record_audit
from app.security.origin import Origin

LAST_SEEN_RESOLUTION = timedelta(seconds=60)
MAX_LOGIN_DELAY_SECONDS = 3.0
PENDING = "pending"  # an attempt reserved before its password is checked; counts as a failure until then


class LoginRefused(DomainError):
    status = 200  # the form is re-rendered with the message

    def __init__(self, message: str, *, throttled: bool = False):
        super().__init__(message)
        self.throttled = throttled


INCORRECT_CREDENTIALS = "Email or password is incorrect."
DUPLICATE_EMAIL = "An account with this e-mail already exists."


def normalize_email(email: str) -> str:
    return email.strip().lower()


@functools.cache
def _hasher(time_cost: int, memory_cost: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)


@functools.cache
def _hash_slots(size: int) -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(max(1, size))


@functools.cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    # Verified against when the account is unknown, so both paths cost the same time.
    return hasher.hash(secrets.token_urlsafe(16))


def _hashing() -> tuple[PasswordHasher, threading.BoundedSemaphore]:
    """The configured argon2id hasher and this process's hash slots (each hash holds its memory cost)."""
    config = current_app.config
    params = config["PASSWORD_HASH_PARAMS"]
    hasher = _hasher(params["time_cost"], params["memory_cost"], params["parallelism"])
    return hasher, _hash_slots(config["MAX_CONCURRENT_HASHES"])


def hash_password(password: str) -> str:
    """An argon2id hash with the configured parameters, waiting for a free hash slot."""
    hasher, slots = _hashing()
    with slots:
        return hasher.hash(password)


def _verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether the password matches; a missing hash costs a verification too and never matches."""
    hasher, slots = _hashing()
    candidate = stored_hash or _dummy_hash(hasher)
    with slots:
        try:
            return hasher.verify(candidate, password) and stored_hash is not None
        except (VerificationError, InvalidHashError):
            return False


def password_matches(user: User | None, password: str) -> bool:
    """Check a password in constant-ish time whether or not the account exists."""
    return _verify_password(user.hashed_password if user else None, password)


def _take_turns(key: str) -> None:
    """Make transactions that pass the same key run one after another, from here until they end.

    PostgreSQL: a transaction-scoped advisory lock on the key. SQLite: the database's single write
    lock, taken now (BEGIN IMMEDIATE) rather than at the first write, so every writer waits."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})
    elif connection.dialect.name == "sqlite" and not connection.connection.dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def get_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalize_email(email)))


def create_user(email: str, display_name: str, password: str, role: str | None = None) -> User:
    """Create an account; the first account ever becomes admin. A sign-up (no role given) waits for
    approval when SIGNUP_APPROVAL is on. Raises Conflict if the e-mail is taken."""
    email = normalize_email(email)
    # Hashed first: outside any lock, and a taken e-mail costs the same time as a free one.
    hashed_password = hash_password(password)
    if get_user_by_email(email) is not None:
        raise Conflict(DUPLICATE_EMAIL)
    approval_status = "approved"
    if role is None:
        role = "admin" if _is_first_account() else "user"
        if role == "user" and current_app.config["SIGNUP_APPROVAL"]:
            approval_status = "pending"
    user = User(email=email, display_name=display_name.strip(), hashed_password=hashed_password, role=role,
                approval_status=approval_status)
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:  # the same e-mail registered a moment ago
        db.session.rollback()
        raise Conflict(DUPLICATE_EMAIL) from None
    from app.billing import subscriptions  # every account bills to its own organisation from the start
    subscriptions.personal_organisation(user.id, user.email)
    return user


def _is_first_account() -> bool:
    """Whether no account exists yet. Simultaneous first sign-ups take turns until each commits,
    so exactly one of them sees an empty table."""
    if db.session.scalar(select(User.id).limit(1)) is not None:
        return False
    _take_turns("studio.first-account")
    return db.session.scalar(select(User.id).limit(1)) is None


def register(email: str, display_name: str, password: str, origin: Origin) -> tuple[User, str]:
    """Create an account and sign it in; returns the user and the new session token."""
    from app.auth import verification

    user = create_user(email, display_name, password)
    mailing = verification.start(user)
    _record_event(user.id, "register", user.email, origin, success=True)
    token = _start_session(user, origin)
    db.session.commit()
    if mailing:
        from app.jobs import runner

        runner.wake()
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


def _recent_failures(since: datetime, *, identifier: str | None = None, ip_address: str | None = None) -> int:
    """Failed (or still pending) sign-ins since then, for a login name, an address, or both."""
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


def _login_delay(account_failures: int, config: dict) -> float:
    """Seconds to wait before checking a password of an account with that many recent failures."""
    slow_after = max(1, config["LOGIN_MAX_FAILURES_PER_ACCOUNT"] - 2)
    if account_failures < slow_after:
        return 0.0
    return min(MAX_LOGIN_DELAY_SECONDS, config["LOGIN_SLOWDOWN_SECONDS"] * (account_failures - slow_after + 1))


def _reserve_login_attempt(identifier: str, user_id, origin: Origin, config: dict) -> tuple[AuthEvent, float]:
    """Record the attempt as pending, then count it with the others; returns it and the delay to wait.

    One short transaction that attempts from the same address take in turn, so simultaneous guesses
    cannot all pass the count. Over a hard limit (this login from this address, or this address
    overall) the attempt is recorded as throttled and LoginRefused is raised, whatever the password."""
    ip_address = origin.ip_address
    _take_turns(f"studio.login.{ip_address or identifier}")
    attempt = AuthEvent(user_id=user_id, event_type="login", login_identifier=identifier, ip_address=ip_address,
                        user_agent=origin.user_agent, success=False, failure_reason=PENDING)
    db.session.add(attempt)
    db.session.flush()
    since = utcnow() - timedelta(seconds=config["LOGIN_WINDOW_SECONDS"])
    # Counts include this attempt.
    pair_count = _recent_failures(since, identifier=identifier, ip_address=ip_address)
    address_count = _recent_failures(since, ip_address=ip_address) if ip_address else 0
    if pair_count > config["LOGIN_MAX_FAILURES_PER_ACCOUNT"] or address_count > config["LOGIN_MAX_FAILURES_PER_IP"]:
        attempt.failure_reason = "throttled"
        record_audit(None, "user", user_id, "login_throttled",
                     after={"login": identifier, "address_failures_for_login": pair_count - 1,
                            "address_failures": address_count - 1},
                     ip_address=ip_address, user_agent=origin.user_agent)
        db.session.commit()
        minutes = max(1, config["LOGIN_WINDOW_SECONDS"] // 60)
        # Same answer whether the password is right or the account exists at all.
        raise LoginRefused(
            f"Too many failed sign-in attempts. Sign-in is paused for up to {minutes} minutes; try again later.",
            throttled=True,
        )
    # Failures on the account from anywhere slow it down; from elsewhere they never lock this address out.
    account_failures = _recent_failures(since, identifier=identifier) - 1
    delay = _login_delay(account_failures, config)
    failures_elsewhere = account_failures - (pair_count - 1)
    if delay and failures_elsewhere and user_id is not None:
        _audit_login_delay_once(user_id, since, origin,
                                {"login": identifier, "failures_elsewhere": failures_elsewhere, "delay_seconds": delay})
    db.session.commit()
    return attempt, delay


def _audit_login_delay_once(user_id, since: datetime, origin: Origin, details: dict) -> None:
    """Note in the audit log, once per window, that an account's sign-ins are slowed by failures elsewhere."""
    already = db.session.scalar(
        select(AuditLog.id).where(AuditLog.entity_type == "user", AuditLog.entity_id == str(user_id),
                                  AuditLog.action == "login_delayed", AuditLog.created_at >= since).limit(1)
    )
    if already is None:
        record_audit(None, "user", user_id, "login_delayed", after=details,
                     ip_address=origin.ip_address, user_agent=origin.user_agent)


def log_in(email: str, password: str, origin: Origin, config: dict) -> tuple[User, str | None]:
    """Check credentials under throttling; returns the user and a new session token (None when the
    account uses two-factor sign-in: two_factor.complete_sign_in makes the session) or raises LoginRefused."""
    identifier = normalize_email(email)[:254]
    user = get_user_by_email(identifier)
    user_id, stored_hash = (user.id, user.hashed_password) if user else (None, None)
    attempt, delay = _reserve_login_attempt(identifier, user_id, origin, config)

    # No transaction is open from here until the outcome is written: the wait and the hash hold no lock.
    if delay:
        time.sleep(delay)
    if not _verify_password(stored_hash, password):
        attempt.failure_reason = "bad_password" if user else "unknown_account"
        db.session.commit()
        raise LoginRefused(INCORRECT_CREDENTIALS)
    if not user.is_active_account:
        attempt.failure_reason = "deactivated"
        db.session.commit()
        raise LoginRefused("This account is deactivated. Ask an administrator.")

    hasher, _slots = _hashing()
    if hasher.check_needs_rehash(stored_hash):
        user.hashed_password = hash_password(password)
    if _needs_second_factor(user):
        attempt.success, attempt.failure_reason = True, None  # the password was right; a code comes next
        db.session.commit()
        return user, None
    user.last_login_at = utcnow()
    attempt.success, attempt.failure_reason = True, None
    token = _start_session(user, origin)
    db.session.commit()
    return user, token


def _needs_second_factor(user: User) -> bool:
    """Whether sign-in continues with a TOTP or recovery code (log_in then returns no session token)."""
    from app.auth import two_factor

    return two_factor.is_enabled(user.id)


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


def _lifetimes(config: dict) -> tuple[timedelta, timedelta]:
    """The idle and the absolute lifetime of a session."""
    idle = config["PERMANENT_SESSION_LIFETIME"]
    idle = idle if isinstance(idle, timedelta) else timedelta(seconds=idle)
    return idle, timedelta(seconds=config["SESSION_ABSOLUTE_LIFETIME"])


def load_session_user(token: str, config: dict, *, with_navigation_version: bool = False) -> User | None:
    """The active user behind a session token, or None if the session was revoked, has expired (idle
    or absolute lifetime) or the user is deactivated. One statement reads the session, its user,
    whether that user must enrol in two-factor sign-in (`must_enrol_two_factor`, for the hook that
    sends them to enrolment) and, when asked (a page that shows the navigation), the navigation's
    fingerprint (`navigation_version`, for nav.services.items_for_role). A session unused for
    LAST_SEEN_RESOLUTION is touched in a short transaction of its own, which leaves the rows just
    read loaded."""
    if not token or len(token) > 100:
        return None
    found = db.session.execute(_session_user_statement(with_navigation_version),
                               {"digest": _token_digest(token)}).first()
    if found is None:
        return None
    session_row, must_enrol = found[0], found[1]
    user = session_row.user
    if not user.is_active_account:
        return None
    now = utcnow()
    idle, absolute = _lifetimes(config)
    ended = ("expired" if now - session_row.created_at > absolute
             else "idle" if session_row.last_seen_at is not None and now - session_row.last_seen_at > idle
             else None)
    if ended:
        session_row.revoked_at, session_row.revoked_reason = now, ended
        db.session.commit()
        return None
    if session_row.last_seen_at is None or now - session_row.last_seen_at > LAST_SEEN_RESOLUTION:
        session_row.last_seen_at = now
        commit_keeping_loaded()  # the rows were read a moment ago, in this request
    user._session_token = token
    user.current_session = session_row
    user.must_enrol_two_factor = bool(must_enrol)
    user.navigation_version = found[2] if with_navigation_version else None
    return user


@functools.cache
def _session_user_statement(with_navigation_version: bool):
    """The loader's statement, built once per process (it runs on every signed-in request)."""
    from app.auth import two_factor
    from app.nav import services as nav_services

    columns = [UserSession, two_factor.must_enrol_clause(User.role, User.id)]
    if with_navigation_version:
        columns.append(nav_services.version_clause())
    return (select(*columns)
            .join(UserSession.user)
            .options(contains_eager(UserSession.user))
            .where(UserSession.refresh_jti == bindparam("digest"), UserSession.revoked_at.is_(None)))



def log_out(user: User, origin: Origin) -> None:
    """End the current session on the server."""
    if user.current_session is not None:
        user.current_session.revoked_at = utcnow()
        user.current_session.revoked_reason = "logout"
    _record_event(user.id, "logout", user.email, origin, success=True)
    db.session.commit()


def list_active_sessions(user: User, config: dict) -> list[UserSession]:
    """The user's sessions that are neither revoked nor expired, most recently used first."""
    idle, absolute = _lifetimes(config)
    now = utcnow()
    return list(
        db.session.scalars(
            select(UserSession)
            .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None),
                   UserSession.created_at >= now - absolute,
                   or_(UserSession.last_seen_at.is_(None), UserSession.last_seen_at >= now - idle))
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
