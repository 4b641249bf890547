"""Factories that make the world for a test, so each test states only what matters to it."""
from __future__ import annotations

import itertools

from app.auth import services as auth_services
from app.extensions import db

PASSWORD = "correct horse battery"
_numbers = itertools.count(1)


def make_user(role: str = "user", *, email: str | None = None, display_name: str | None = None,
              password: str = PASSWORD, is_active: bool = True):
    """A committed account with the given role."""
    number = next(_numbers)
    user = auth_services.create_user(
        email or f"person{number}@example.org", display_name or f"Person {number}", password, role=role
    )
    user.is_active_account = is_active
    db.session.commit()
    return user
