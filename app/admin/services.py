"""User administration: search, role changes, deactivation, sign-up approval; every change audited."""
from __future__ import annotations

import uuid

from sqlalchemy import func, or_, select

from app.auth.models import AuthEvent, User
from app.auth.services import end_all_sessions
from app.core.pages import paginate
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models.base import escape_like
from app.security.audit import record_audit
from app.security.origin import Origin
from app.security.roles import ROLE_RANK

USERS_PAGE_SIZE = 50


USER_STATUSES = {"active", "deactivated", "pending"}


def search_users(query: str, page: int, role: str | None = None,
                 status: str | None = None) -> tuple[list[User], bool]:
    """A page of users matching the text (e-mail or name), the role and the status (active,
    deactivated, pending approval), newest first; and whether more follow."""
    statement = select(User).order_by(User.created_at.desc(), User.id.desc())
    query = (query or "").replace("\x00", "").strip()[:100]  # PostgreSQL refuses NUL in text
    if query:
        pattern = f"%{escape_like(query.lower())}%"
        statement = statement.where(
            or_(User.email.like(pattern, escape="\\"), func.lower(User.display_name).like(pattern, escape="\\"))
        )
    if role in ROLE_RANK:
        statement = statement.where(User.role == role)
    if status == "active":
        statement = statement.where(User.is_active_account.is_(True), User.approval_status == "approved")
    elif status == "deactivated":
        statement = statement.where(User.is_active_account.is_(False))
    elif status == "pending":
        statement = statement.where(User.approval_status == "pending", User.is_active_account.is_(True))
    return paginate(statement, page, USERS_PAGE_SIZE)


def get_user(user_id: uuid.UUID) -> User:
    """The user with this id, or NotFound."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("That user does not exist.")
    return user


def recent_auth_events(user_id: uuid.UUID, limit: int = 20) -> list[AuthEvent]:
    """The account's latest sign-in and security events, newest first."""
    return list(
        db.session.scalars(
            select(AuthEvent).where(AuthEvent.user_id == user_id).order_by(AuthEvent.created_at.desc()).limit(limit)
        )
    )


def change_role(actor: User, user_id: uuid.UUID, new_role: str, origin: Origin) -> User:
    """Give a user another role; an admin cannot change their own role (no accidental lock-out)."""
    if new_role not in ROLE_RANK:
        raise ValidationFailed("Unknown role.")
    user = get_user(user_id)
    if user.id == actor.id:
        raise Forbidden("You cannot change your own role.")
    before = {"role": user.role}
    user.role = new_role
    record_audit(actor.id, "user", user.id, "change_role", before=before, after={"role": new_role},
                 ip_address=origin.ip_address, user_agent=origin.user_agent)
    db.session.commit()
    return user


def set_active(actor: User, user_id: uuid.UUID, is_active: bool, origin: Origin) -> User:
    """Deactivate (ending every session at once) or reactivate an account."""
    user = get_user(user_id)
    if user.id == actor.id:
        raise Forbidden("You cannot deactivate your own account.")
    before = {"is_active": user.is_active_account}
    user.is_active_account = is_active
    if not is_active:
        end_all_sessions(user.id, reason="account deactivated")
    record_audit(actor.id, "user", user.id, "reactivate" if is_active else "deactivate", before=before,
                 after={"is_active": is_active}, ip_address=origin.ip_address, user_agent=origin.user_agent)
    db.session.commit()
    return user




def revoke_all_sessions(actor: User, user_id: uuid.UUID, origin: Origin) -> int:
    """Sign a user out everywhere (their next request is signed out); returns how many sessions ended."""
    user = get_user(user_id)
    ended = end_all_sessions(user.id, reason="revoked by an admin")
    record_audit(actor.id, "user", user.id, "revoke_sessions", before={"active_sessions": ended},
                 after={"active_sessions": 0}, ip_address=origin.ip_address, user_agent=origin.user_agent)
    db.session.commit()
    return ended


def pending_signups(page: int) -> tuple[list[User], bool]:
    """Accounts waiting for approval, oldest first (the queue's order)."""
    statement = (select(User).where(User.approval_status == "pending", User.is_active_account.is_(True))
                 .order_by(User.created_at, User.id))
    return paginate(statement, page, USERS_PAGE_SIZE)


def pending_signup_count() -> int:
    """How many accounts wait for approval."""
    return db.session.scalar(select(func.count(User.id)).where(
        User.approval_status == "pending", User.is_active_account.is_(True))) or 0


def decide_signup(actor: User, user_id: uuid.UUID, approve: bool, origin: Origin) -> User:
    """Approve a waiting account (it can use Studio at its next request) or reject it (deactivated
    and signed out at once). Only a waiting account can be decided: anything else is a Conflict."""
    user = get_user(user_id)
    if user.approval_status != "pending" or not user.is_active_account:
        raise Conflict(f"{user.email} is not waiting for approval.")
    before = {"approval_status": user.approval_status, "is_active": user.is_active_account}
    if approve:
        user.approval_status = "approved"
    else:
        user.approval_status, user.is_active_account = "rejected", False
        end_all_sessions(user.id, reason="sign-up rejected")
    record_audit(actor.id, "user", user.id, "approve_signup" if approve else "reject_signup", before=before,
                 after={"approval_status": user.approval_status, "is_active": user.is_active_account},
                 ip_address=origin.ip_address, user_agent=origin.user_agent)
    db.session.commit()
    return user


def counts() -> dict[str, int]:
    """Accounts by role and the number of audit entries."""
    by_role = dict(db.session.execute(select(User.role, func.count(User.id)).group_by(User.role)).all())
    return {"users": sum(by_role.values()), "admins": by_role.get("admin", 0),
            "moderators": by_role.get("moderator", 0)}
