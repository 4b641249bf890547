"""Roles are ordered: admin > moderator > user. One decorator checks them on every route."""
from __future__ import annotations

import enum
from functools import wraps

from flask import abort
from flask_login import current_user

from app.extensions import login_manager


class Role(str, enum.Enum):
    USER = "user"
    MODERATOR = "moderator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return ROLE_RANK[self.value]

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        return [(role.value, role.value.capitalize()) for role in cls]


ROLE_RANK = {"user": 1, "moderator": 2, "admin": 3}


def role_at_least(role: str | None, required: str | None) -> bool:
    """True when `role` is `required` or above; no requirement means any signed-in role."""
    if required is None:
        return role in ROLE_RANK
    return ROLE_RANK.get(role or "", 0) >= ROLE_RANK[required]


def acting_user():
    """The signed-in person making this request, as the User row services take (not Flask-Login's proxy)."""
    return current_user._get_current_object()


def role_required(required: Role | str = Role.USER):
    """Route decorator: sign-in required (redirect to login), then the role (403)."""
    required_value = Role(required).value

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not role_at_least(current_user.role, required_value):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_role = required_value
        return wrapped

    return decorator


login_required = role_required(Role.USER)
