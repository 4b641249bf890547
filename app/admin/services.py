"""User administration: search, role changes, deactivation; every change audited."""
from __future__ import annotations

import uuid

from sqlalchemy import func, or_, select

from app.auth.models import AuthEvent, User
from app.auth.services import end_all_sessions
from app.core.pages import paginate
from app.errors import Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models.base import escape_like
from app.security.audit import AuditLog, record_audit
from app.security.origin import Origin
from app.security.roles import ROLE_RANK

USERS_PAGE_SIZE = 50
AUDIT_PAGE_SIZE = 50


def search_users(query: str, page: int) -> tuple[list[User], bool]:
    """A page of users matching the text (e-mail or name), newest first; and whether more follow."""
    statement = select(User).order_by(User.created_at.desc(), User.id.desc())
    query = (query or "").replace("\x00", "").strip()[:100]  # PostgreSQL refuses NUL in text
    if query:
        pattern = f"%{escape_like(query.lower())}%"
        statement = statement.where(
            or_(User.email.like(pattern, escape="\\"), func.lower(User.display_name).like(pattern, escape="\\"))
        )
    return paginate(statement, page, USERS_PAGE_SIZE)


def get_user(user_id: uuid.UUID) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("That user does not exist.")
    return user


def recent_auth_events(user_id: uuid.UUID, limit: int = 20) -> list[AuthEvent]:
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


def audit_page(page: int, entity_type: str | None = None) -> tuple[list[tuple[AuditLog, str | None]], bool]:
    """A page of the audit log, newest first, with each actor's e-mail (one query)."""
    statement = (
        select(AuditLog, User.email)
        .outerjoin(User, User.id == AuditLog.user_id)
        .order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
    )
    if entity_type:
        statement = statement.where(AuditLog.entity_type == entity_type.replace("\x00", "")[:50])
    rows, has_more = paginate(statement, page, AUDIT_PAGE_SIZE)
    return [tuple(row) for row in rows], has_more


def counts() -> dict[str, int]:
    return {
        "users": db.session.scalar(select(func.count(User.id))) or 0,
        "admins": db.session.scalar(select(func.count(User.id)).where(User.role == "admin")) or 0,
        "moderators": db.session.scalar(select(func.count(User.id)).where(User.role == "moderator")) or 0,
        "audit_entries": db.session.scalar(select(func.count(AuditLog.id))) or 0,
    }
