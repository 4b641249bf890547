"""A sign-in ends when unused for too long and, however active, a fixed time after it began."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.auth.models import UserSession
from app.extensions import db
from app.models.base import utcnow
from tests.conftest import log_in

pytestmark = pytest.mark.postgres  # timestamps compared in the database


def session_of(user) -> UserSession:
    return db.session.scalar(select(UserSession).where(UserSession.user_id == user.id))


def test_an_active_session_ends_after_its_absolute_lifetime(app, login_as):
    person = login_as("user")
    row = session_of(person.user)
    row.created_at = utcnow() - timedelta(seconds=app.config["SESSION_ABSOLUTE_LIFETIME"] + 60)
    row.last_seen_at = utcnow()  # used a moment ago
    db.session.commit()

    assert person.get("/account").status_code == 302  # back to sign-in
    db.session.refresh(row)
    assert row.revoked_at is not None and row.revoked_reason == "expired"


def test_an_unused_session_ends_after_the_idle_lifetime(app, login_as):
    person = login_as("user")
    row = session_of(person.user)
    row.last_seen_at = utcnow() - timedelta(seconds=app.config["PERMANENT_SESSION_LIFETIME"] + 60)
    db.session.commit()

    assert person.get("/account").status_code == 302
    db.session.refresh(row)
    assert row.revoked_at is not None and row.revoked_reason == "idle"


def test_a_session_within_both_lifetimes_keeps_working(app, login_as):
    person = login_as("user")
    row = session_of(person.user)
    row.created_at = utcnow() - timedelta(seconds=app.config["SESSION_ABSOLUTE_LIFETIME"] - 3600)
    row.last_seen_at = utcnow() - timedelta(seconds=app.config["PERMANENT_SESSION_LIFETIME"] - 3600)
    db.session.commit()

    assert person.get("/account").status_code == 200
    db.session.refresh(row)
    assert row.revoked_at is None


def test_expired_sessions_are_not_listed_as_active(app, login_as):
    person = login_as("user")
    log_in(app.test_client(), person.user)  # a second browser, then left alone
    _this_one, other = sorted(db.session.scalars(select(UserSession).where(UserSession.user_id == person.user.id)),
                              key=lambda s: s.created_at)
    other.created_at = utcnow() - timedelta(seconds=app.config["SESSION_ABSOLUTE_LIFETIME"] + 60)
    db.session.commit()
    page = person.get("/account").get_data(as_text=True)
    assert page.count('class="session-row"') == 1
