"""Forgotten passwords: a reset link by mail (or made by an admin to hand over), and the CLI's break-glass reset."""
from __future__ import annotations

import uuid
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from app.auth import account_tokens, services
from app.auth.models import AuthEvent, User
from app.errors import NotFound
from app.extensions import db
from app.jobs import runner
from app.models.base import utcnow
from app.security.audit import record_audit
from app.security.origin import Origin


def request_reset(email: str, origin: Origin) -> None:
    """Mail a reset link if the address is an active account's and it has not had too many lately.
    Says nothing either way: the page looks the same whether the account exists."""
    identifier = services.normalize_email(email)[:254]
    user = services.get_user_by_email(identifier)
    limit = current_app.config["PASSWORD_RESETS_PER_ACCOUNT_PER_HOUR"]
    reason = None
    if user is None:
        reason = "unknown_account"
    elif not user.is_active_account:
        reason = "deactivated"
    elif not account_tokens.mail_is_possible():
        reason = "no_mail_server"
    elif recent_events(user.id, "password_reset_request", timedelta(hours=1)) >= limit:
        reason = "throttled"
    services._record_event(user.id if user else None, "password_reset_request", identifier, origin,
                           success=reason is None, reason=reason)
    if reason is None:
        account_tokens.queue_link_mail(user, account_tokens.PASSWORD_RESET, "Reset your Studio password",
                                       "password_reset")
    db.session.commit()
    if reason is None:
        runner.wake()


def recent_events(user_id: uuid.UUID, event_type: str, window: timedelta) -> int:
    """Granted requests of that kind for the account lately (mails queued)."""
    return db.session.scalar(select(func.count(AuthEvent.id)).where(
        AuthEvent.user_id == user_id, AuthEvent.event_type == event_type,
        AuthEvent.success.is_(True), AuthEvent.created_at >= utcnow() - window)) or 0


def make_reset_link(admin: User, user_id: uuid.UUID, origin: Origin) -> str:
    """A reset link an admin hands over (no mail needed); audited."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("That account does not exist.")
    link = account_tokens.make_link(user, account_tokens.PASSWORD_RESET, created_by=admin)
    record_audit(admin.id, "user", user.id, "make_password_reset_link",
                 ip_address=origin.ip_address, user_agent=origin.user_agent)
    db.session.commit()
    return link


def reset_with_token(token: str, new_password: str, origin: Origin, keep_session_id=None) -> User | None:
    """Set a new password through a reset link; the link is used up, every other link of the account
    becomes void and every session but `keep_session_id` ends. None when the link is not valid."""
    row = account_tokens.find_valid(token, account_tokens.PASSWORD_RESET)
    if row is None:
        return None
    hashed = services.hash_password(new_password)  # before any write: the hash takes time
    if not account_tokens.use(row):
        db.session.rollback()
        return None
    user = db.session.get(User, row.user_id)
    user.hashed_password = hashed
    if row.created_by_id is None:
        user.is_email_verified = True  # the link came through the mailbox
    account_tokens.retire_all(user.id, account_tokens.PASSWORD_RESET)
    ended = services._revoke_all_sessions_of(user.id, except_id=keep_session_id, reason="password reset")
    services._record_event(user.id, "password_reset", user.email, origin, success=True)
    record_audit(user.id, "user", user.id, "reset_password",
                 after={"link": "made by an admin" if row.created_by_id else "mailed", "sessions_ended": ended},
                 ip_address=origin.ip_address, user_agent=origin.user_agent)
    db.session.commit()
    return user


def break_glass_reset(email: str, new_password: str) -> User:
    """Set an account's password from the command line; every session ends. Raises NotFound."""
    user = services.get_user_by_email(email)
    if user is None:
        raise NotFound("No account has that e-mail.")
    user.hashed_password = services.hash_password(new_password)
    account_tokens.retire_all(user.id, account_tokens.PASSWORD_RESET)
    ended = services._revoke_all_sessions_of(user.id, except_id=None, reason="password reset")
    record_audit(None, "user", user.id, "reset_password", after={"link": "command line", "sessions_ended": ended})
    db.session.commit()
    return user
