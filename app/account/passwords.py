"""Whether an account has a password of its own, and setting one through the mailbox.

An account single sign-on created got a random password nobody was told (app/auth/oidc.py audits it
"sso_created"); it has one of its own only once a reset link (mailed, or made by an admin) or the
command line has set one, each audited "reset_password". Setting a first password goes through the
reset mail, so only someone who can read the account's mailbox can do it: a signed-in session alone
(a borrowed laptop) cannot add a way to sign in."""
from __future__ import annotations

from sqlalchemy import select

from app.auth import account_tokens, password_reset
from app.extensions import db
from app.security.audit import AuditLog
from app.security.origin import Origin

PASSWORD_SET_ACTIONS = ("reset_password", "change_password")


def has_own_password(user) -> bool:
    """False for an account single sign-on created that has not set a password since (one query)."""
    actions = set(db.session.scalars(select(AuditLog.action).where(
        AuditLog.entity_type == "user", AuditLog.entity_id == str(user.id),
        AuditLog.action.in_(("sso_created", *PASSWORD_SET_ACTIONS)))))
    return "sso_created" not in actions or bool(actions & set(PASSWORD_SET_ACTIONS))


def can_mail_link() -> bool:
    """Whether this server can mail the link that sets a password."""
    return account_tokens.mail_is_possible()


def mail_set_password_link(user, origin: Origin) -> None:
    """Mail the account a link that sets its password (the reset flow: once, for an hour; throttled per
    account and recorded as a reset request)."""
    password_reset.request_reset(user.email, origin)
