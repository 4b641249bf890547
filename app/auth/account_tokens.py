"""Single-use links to an account: password reset (one hour) and e-mail confirmation (two days).

A link carries 256 random bits; only their keyed hash is stored. A mailed link is drawn when its mail
is sent (app/core/mail.py), so the jobs table never holds it; an admin-made link is drawn at once
and shown to the admin to hand over. Using a link is one conditional UPDATE: it works once."""
from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from app.auth.models import User
from app.auth.token_models import AccountToken
from app.core import mail
from app.extensions import db
from app.models.base import utcnow
from app.security.keyed_hash import keyed_digest

PASSWORD_RESET = "password_reset"
EMAIL_VERIFICATION = "email_verification"
LIFETIMES = {PASSWORD_RESET: timedelta(hours=1), EMAIL_VERIFICATION: timedelta(days=2)}
ENDPOINTS = {PASSWORD_RESET: "auth.reset_password", EMAIL_VERIFICATION: "auth.verify_email"}


def token_digest(token: str) -> str:
    return keyed_digest("account_token", token)


def _new_row(user: User, purpose: str, created_by: User | None = None) -> tuple[AccountToken, str]:
    token = secrets.token_urlsafe(32)
    row = AccountToken(user_id=user.id, purpose=purpose, token_digest=token_digest(token),
                       created_by_id=created_by.id if created_by else None,
                       expires_at=utcnow() + LIFETIMES[purpose])
    db.session.add(row)
    db.session.flush()
    return row, token


def make_link(user: User, purpose: str, created_by: User | None = None) -> str:
    """A new link of that kind for the account (the caller commits); its address from STUDIO_BASE_URL."""
    _row, token = _new_row(user, purpose, created_by)
    return mail.absolute_url(ENDPOINTS[purpose], token=token)


def queue_link_mail(user: User, purpose: str, subject: str, template: str) -> None:
    """Queue a mail carrying a new link of that kind; the link is drawn when the mail goes out."""
    mail.queue_mail(user.email, subject, template, context={"display_name": user.display_name},
                    link="account_token", link_payload={"user_id": str(user.id), "purpose": purpose})


@mail.link_maker("account_token")
def _draw_link(payload: dict) -> dict | None:
    """Draw the link of a mail being sent (in the job): None when the account can no longer use it."""
    user = db.session.get(User, uuid.UUID(payload["user_id"]))
    if user is None or not user.is_active_account:
        return None
    link = make_link(user, payload["purpose"])
    db.session.commit()
    hours = int(LIFETIMES[payload["purpose"]].total_seconds() // 3600)
    return {"link": link, "valid_hours": hours}


def find_valid(token: str, purpose: str) -> AccountToken | None:
    """The unused, unexpired link of that kind for an active account, or None."""
    if not token or len(token) > 100:
        return None
    row = db.session.scalar(select(AccountToken).where(
        AccountToken.token_digest == token_digest(token), AccountToken.purpose == purpose))
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        return None
    user = db.session.get(User, row.user_id)
    return row if user is not None and user.is_active_account else None


def use(row: AccountToken) -> bool:
    """Mark the link used, if nobody used it first and it has not expired; part of the caller's transaction."""
    now = utcnow()
    taken = db.session.execute(
        update(AccountToken)
        .where(AccountToken.id == row.id, AccountToken.used_at.is_(None), AccountToken.expires_at > now)
        .values(used_at=now).execution_options(synchronize_session=False)).rowcount
    return taken == 1


def retire_all(user_id: uuid.UUID, purpose: str) -> None:
    """Mark every unused link of that kind of the account used (a reset makes the other links void)."""
    db.session.execute(
        update(AccountToken)
        .where(AccountToken.user_id == user_id, AccountToken.purpose == purpose, AccountToken.used_at.is_(None))
        .values(used_at=utcnow()).execution_options(synchronize_session=False))


def mail_is_possible() -> bool:
    return mail.is_configured() and bool(current_app.config.get("STUDIO_BASE_URL"))
