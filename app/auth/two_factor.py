"""Two-factor sign-in with TOTP (RFC 6238, pyotp): enrolment with a QR code drawn on the server,
confirmation, single-use recovery codes stored as keyed hashes, the second step of sign-in (throttled
like the password, a code never accepted twice), disabling, and roles that must use it. Secrets are
stored sealed (totp_secrets); one stored in plain text, or under an older key, is sealed again under
the current key when it next accepts a code (or by `flask users encrypt-totp-secrets`)."""
from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import pyotp
import segno
from flask import current_app
from sqlalchemy import delete, func, or_, select, update

from app.auth import totp_secrets
from app.auth.models import AuthEvent, User
from app.auth.two_factor_models import MfaMethod, RecoveryCode, RolePolicy
from app.errors import NotFound
from app.extensions import db
from app.models.base import utcnow
from app.security.audit import record_audit
from app.security.keyed_hash import keyed_digest
from app.security.origin import Origin

ISSUER = "Studio"
RECOVERY_CODE_COUNT = 10
STEP_SECONDS = 30
VALID_WINDOW = 1  # one step either side, for clocks that drift
EVENT = "two_factor"
PENDING = "pending"
# How long a password-checked sign-in waits for its code.
CHALLENGE_SECONDS = 300
_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


class CodeRefused(Exception):
    """A code that was wrong, used already, or came while attempts are paused."""

    def __init__(self, message: str, *, throttled: bool = False):
        super().__init__(message)
        self.message = message
        self.throttled = throttled


WRONG_CODE = "That code is not right, or it was used already."
SECRET_UNREADABLE = ("Codes from your authenticator app cannot be checked at the moment: the server's key for "
                     "them has changed. Use a recovery code, or ask an administrator.")
ENROLMENT_UNREADABLE = ("This setup could no longer be checked (the server's key changed), so it has started again: "
                        "scan the new code and enter the code your app shows for it.")


# --- reading ---------------------------------------------------------------------------------------

def method_of(user_id: uuid.UUID) -> MfaMethod | None:
    """The user's TOTP method, confirmed or still being set up."""
    return db.session.scalar(select(MfaMethod).where(MfaMethod.user_id == user_id, MfaMethod.method_type == "totp"))


def is_enabled(user_id: uuid.UUID) -> bool:
    """Whether the user has confirmed an authenticator (sign-in then asks for a code)."""
    return db.session.scalar(select(MfaMethod.id).where(
        MfaMethod.user_id == user_id, MfaMethod.verified_at.is_not(None)).limit(1)) is not None


def unused_recovery_codes_count(user_id: uuid.UUID) -> int:
    return db.session.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))) or 0


def roles_requiring_two_factor() -> set[str]:
    return set(db.session.scalars(select(RolePolicy.role).where(RolePolicy.is_two_factor_required.is_(True))))


def must_enrol_clause(role, user_id):
    """SQL true when `role` requires two-factor sign-in and `user_id` has not confirmed an
    authenticator; with columns (User.role, User.id) it is correlated to the users row of the
    enclosing statement (the session loader selects it beside the user)."""
    required = select(RolePolicy.role).where(RolePolicy.role == role, RolePolicy.is_two_factor_required.is_(True))
    enrolled = select(MfaMethod.id).where(MfaMethod.user_id == user_id, MfaMethod.verified_at.is_not(None))
    return required.exists() & ~enrolled.exists()


def must_enrol(user: User) -> bool:
    """Whether the user's role requires two-factor sign-in and they have not confirmed an authenticator
    (one query)."""
    return bool(db.session.scalar(select(must_enrol_clause(user.role, user.id))))


# --- enrolment -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str
    qr_svg: str  # an <svg> element, drawn on the server (no third party sees the secret)


def _uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def _qr_svg(uri: str) -> str:
    return segno.make(uri, error="m").svg_inline(scale=5, dark="#111", light="#fff", title="Authenticator QR code")


def enrolment_for(user: User, method: MfaMethod) -> Enrolment | None:
    """What the enrolment page shows for a method still being set up; None when its secret no longer
    opens (the page then offers to start again)."""
    secret = _open_secret(method)
    if secret is None:
        return None
    uri = _uri(user, secret.secret)
    return Enrolment(secret.secret, uri, _qr_svg(uri))


def begin_enrolment(user: User) -> MfaMethod:
    """A fresh secret waiting for confirmation (replacing one not confirmed); NotFound-free: an
    enabled method must be disabled first."""
    method = method_of(user.id)
    if method is not None and method.is_verified:
        return method
    if method is None:
        method = MfaMethod(user_id=user.id, method_type="totp", label="Authenticator app")
        db.session.add(method)
    method.secret = totp_secrets.seal(pyotp.random_base32())  # 160 bits
    method.last_used_step = None
    db.session.commit()
    return method


def confirm_enrolment(user: User, code: str, origin: Origin, config: dict) -> list[str]:
    """Turn on two-factor sign-in once the user proves their app has the secret; returns the ten
    recovery codes, shown once (only their keyed hashes are stored)."""
    method = method_of(user.id)
    if method is None or method.is_verified:
        raise NotFound("There is no authenticator being set up.")
    attempt = _reserve_attempt(user, "enrol", origin, config)
    secret = _open_secret(method)
    if secret is None:  # nothing is lost by a new secret: none was confirmed
        method.secret, method.last_used_step = totp_secrets.seal(pyotp.random_base32()), None
        attempt.failure_reason = "secret_unreadable"
        db.session.commit()
        raise CodeRefused(ENROLMENT_UNREADABLE)
    if not _accept_totp(method, secret, code):
        _refuse(attempt, "bad_code")
    method.verified_at = utcnow()
    codes = _replace_recovery_codes(user.id)
    _commit_change(attempt, user, "two_factor_enabled", origin)
    return codes


def regenerate_recovery_codes(user: User, code: str, origin: Origin, config: dict) -> list[str]:
    """New recovery codes (the old ones stop working), after a code from the app or a recovery code."""
    attempt = _check_second_factor(user, code, "recovery_codes", origin, config)
    codes = _replace_recovery_codes(user.id)
    _commit_change(attempt, user, "two_factor_recovery_codes_replaced", origin)
    return codes


def disable(user: User, code: str, origin: Origin, config: dict) -> None:
    """Turn two-factor sign-in off, after a code from the app or a recovery code."""
    attempt = _check_second_factor(user, code, "disable", origin, config)
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.execute(delete(MfaMethod).where(MfaMethod.user_id == user.id))
    _commit_change(attempt, user, "two_factor_disabled", origin)


def _commit_change(attempt: AuthEvent, user: User, action: str, origin: Origin) -> None:
    """Close a change of the user's own two-factor settings: the attempt succeeded, the audit log says what
    changed and from where, and all of it is committed at once."""
    attempt.success, attempt.failure_reason = True, None
    record_audit(user.id, "user", user.id, action, ip_address=origin.ip_address, user_agent=origin.user_agent)
    db.session.commit()


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(10))  # ~49 bits each
    return f"{raw[:5]}-{raw[5:]}"


def _normalise_recovery_code(code: str) -> str:
    raw = "".join(ch for ch in (code or "").lower() if ch.isalnum())
    return f"{raw[:5]}-{raw[5:]}" if len(raw) == 10 else ""


def _replace_recovery_codes(user_id: uuid.UUID) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    db.session.add_all(RecoveryCode(user_id=user_id, code_hash=keyed_digest("recovery-code", code)) for code in codes)
    return codes


# --- checking codes --------------------------------------------------------------------------------

def _open_secret(method: MfaMethod) -> totp_secrets.Opened | None:
    """The method's secret, or None (logged for the administrator) when no configured key opens it."""
    try:
        return totp_secrets.open_secret(method.secret)
    except totp_secrets.SecretUnreadable as error:
        current_app.logger.error(
            "Two-factor secret of user %s (method %s) cannot be opened: %s. Put the key it was sealed under "
            "(the former SECRET_KEY) in STUDIO_TOTP_ENCRYPTION_KEYS after the current one.",
            method.user_id, method.id, error)
        return None


def _accept_totp(method: MfaMethod, secret: totp_secrets.Opened, code: str) -> bool:
    """Whether `code` is the method's code for now (± one step) and newer than the last one taken.
    The step is recorded with a conditional UPDATE, so of two requests with one code only one wins; a
    secret in plain text or under an older key is sealed under the current one by that same UPDATE."""
    code = "".join((code or "").split())
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        return False
    totp = pyotp.TOTP(secret.secret)
    now_step = int(time.time()) // STEP_SECONDS
    for step in range(now_step + VALID_WINDOW, now_step - VALID_WINDOW - 1, -1):
        if secrets.compare_digest(totp.at(step * STEP_SECONDS), code):
            values = {"last_used_step": step, "last_used_at": utcnow()}
            if not secret.is_current:
                values["secret"] = totp_secrets.seal(secret.secret)
            taken = db.session.execute(
                update(MfaMethod).where(MfaMethod.id == method.id,
                                        or_(MfaMethod.last_used_step.is_(None), MfaMethod.last_used_step < step))
                .values(**values).execution_options(synchronize_session=False))
            return taken.rowcount == 1
    return False


def _accept_recovery_code(user_id: uuid.UUID, code: str) -> bool:
    """Whether `code` is one of the user's unused recovery codes; it is used up at once."""
    normalised = _normalise_recovery_code(code)
    if not normalised:
        return False
    used = db.session.execute(
        update(RecoveryCode).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None),
                                   RecoveryCode.code_hash == keyed_digest("recovery-code", normalised))
        .values(used_at=utcnow()).execution_options(synchronize_session=False))
    return used.rowcount >= 1


def _check_second_factor(user: User, code: str, purpose: str, origin: Origin, config: dict) -> AuthEvent:
    """The pending attempt, once `code` (app or recovery code) is right; CodeRefused otherwise."""
    method = method_of(user.id)
    if method is None or not method.is_verified:
        raise NotFound("Two-factor sign-in is not turned on.")
    attempt = _reserve_attempt(user, purpose, origin, config)
    secret = _open_secret(method)
    # A recovery code still works when the app's secret cannot be opened.
    if (secret is not None and _accept_totp(method, secret, code)) or _accept_recovery_code(user.id, code):
        return attempt
    if secret is None:
        _refuse(attempt, "secret_unreadable", SECRET_UNREADABLE)
    _refuse(attempt, "bad_code")


def _refuse(attempt: AuthEvent, reason: str, message: str = WRONG_CODE):
    db.session.rollback()  # nothing half-made is kept; the attempt itself was committed when reserved
    attempt.failure_reason = reason
    db.session.commit()
    raise CodeRefused(message)


def _recent_code_failures(user_id: uuid.UUID, since, ip_address: str | None = None) -> int:
    query = select(func.count(AuthEvent.id)).where(
        AuthEvent.event_type == EVENT, AuthEvent.user_id == user_id, AuthEvent.success.is_(False),
        AuthEvent.failure_reason != "throttled", AuthEvent.created_at >= since)
    if ip_address is not None:
        query = query.where(AuthEvent.ip_address == ip_address)
    return db.session.scalar(query) or 0


def _reserve_attempt(user: User, purpose: str, origin: Origin, config: dict) -> AuthEvent:
    """Record a code attempt as pending (a failure until it succeeds) and count it with the account's
    others in the sign-in window, like passwords: over LOGIN_MAX_FAILURES_PER_ACCOUNT it is refused,
    whatever the code. Attempts of one account take turns, so parallel guesses all count."""
    from app.auth.services import _take_turns

    _take_turns(f"studio.two-factor.{user.id}")
    attempt = AuthEvent(user_id=user.id, event_type=EVENT, login_identifier=user.email, ip_address=origin.ip_address,
                        user_agent=origin.user_agent, success=False, failure_reason=PENDING)
    db.session.add(attempt)
    db.session.flush()
    since = utcnow() - timedelta(seconds=config["LOGIN_WINDOW_SECONDS"])
    if _recent_code_failures(user.id, since) > config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]:
        attempt.failure_reason = "throttled"
        record_audit(None, "user", user.id, "two_factor_throttled", after={"purpose": purpose},
                     ip_address=origin.ip_address, user_agent=origin.user_agent)
        db.session.commit()
        minutes = max(1, config["LOGIN_WINDOW_SECONDS"] // 60)
        raise CodeRefused(f"Too many wrong codes. Codes are paused for up to {minutes} minutes; try again later.",
                          throttled=True)
    db.session.commit()
    return attempt


# --- secrets at rest -------------------------------------------------------------------------------

@dataclass
class ResealReport:
    sealed_from_plain: int = 0
    sealed_from_old_key: int = 0
    already_current: int = 0
    unreadable: list[str] = field(default_factory=list)  # the e-mail addresses of accounts whose secret no key opens


def reseal_stored_secrets(batch_size: int = 200) -> ResealReport:
    """Seal every stored secret under the current key: plain-text ones from before encryption and ones
    under an older key of TOTP_ENCRYPTION_KEYS. Each is rewritten only if still as read (a sign-in may
    have sealed it meanwhile); one that no key opens is left as it is and reported."""
    report = ResealReport()
    after = None
    while True:
        query = select(MfaMethod.id, MfaMethod.secret, User.email).join(User, User.id == MfaMethod.user_id)
        if after is not None:
            query = query.where(MfaMethod.id > after)
        rows = db.session.execute(query.order_by(MfaMethod.id).limit(batch_size)).all()
        if not rows:
            return report
        for method_id, stored, email in rows:
            try:
                opened = totp_secrets.open_secret(stored)
            except totp_secrets.SecretUnreadable:
                report.unreadable.append(email)
                continue
            if opened.is_current:
                report.already_current += 1
                continue
            rewritten = db.session.execute(
                update(MfaMethod).where(MfaMethod.id == method_id, MfaMethod.secret == stored)
                .values(secret=totp_secrets.seal(opened.secret)).execution_options(synchronize_session=False))
            if rewritten.rowcount == 1:
                if totp_secrets.is_sealed(stored):
                    report.sealed_from_old_key += 1
                else:
                    report.sealed_from_plain += 1
            else:
                report.already_current += 1
        db.session.commit()
        after = rows[-1].id


# --- the second step of sign-in ---------------------------------------------------------------------

def complete_sign_in(user_id: uuid.UUID, code: str, origin: Origin, config: dict) -> tuple[User, str]:
    """Check the code of a sign-in whose password was right; returns the user and a new session token."""
    from app.auth.services import _start_session

    user = db.session.get(User, user_id)
    if user is None or not user.is_active_account:
        raise CodeRefused("Sign in again.")
    attempt = _check_second_factor(user, code, "sign_in", origin, config)
    attempt.success, attempt.failure_reason = True, None
    user.last_login_at = utcnow()
    token = _start_session(user, origin)
    db.session.commit()
    return user, token


# --- what administrators require ------------------------------------------------------------------

def set_role_requirement(actor: User, role: str, is_required: bool, origin: Origin) -> None:
    """Require (or stop requiring) two-factor sign-in of every account with `role`."""
    policy = db.session.get(RolePolicy, role)
    before = policy.is_two_factor_required if policy else False
    if policy is None:
        policy = RolePolicy(role=role)
        db.session.add(policy)
    policy.is_two_factor_required = is_required
    record_audit(actor.id, "role_policy", role, "two_factor_requirement", before={"required": before},
                 after={"required": is_required}, ip_address=origin.ip_address, user_agent=origin.user_agent)
    db.session.commit()
