"""Repeated sign-in failures are slowed, then refused for a while, and every attempt is recorded."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.auth.models import AuthEvent
from app.extensions import db
from app.security.audit import AuditLog
from tests.conftest import csrf_token_of, without_csrf_tokens
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.postgres  # counts of recent failures in a time window


ATTACKER, OWNER = "198.51.100.7", "203.0.113.9"


def attempt(client, email, password, address=None):
    extra = {"environ_base": {"REMOTE_ADDR": address}} if address else {}
    return client.post("/login", data={"email": email, "password": password, "csrf_token": csrf_token_of(client)},
                       **extra)


def test_the_guessing_address_is_refused_even_with_the_right_password(app, client):
    user = make_user()
    limit = app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
    for _ in range(limit):
        assert "Email or password is incorrect." in attempt(client, user.email, "wrong guess").get_data(as_text=True)
    wrong = attempt(client, user.email, "another guess")
    right = attempt(client, user.email, PASSWORD)
    assert right.status_code == wrong.status_code == 429
    # Nothing tells the password was right (the CSRF token is signed with the time, so it may differ).
    assert without_csrf_tokens(right) == without_csrf_tokens(wrong)
    assert "Too many failed sign-in attempts" in right.get_data(as_text=True)
    assert client.get("/account").status_code == 302  # not signed in
    throttled = db.session.scalar(select(func.count(AuthEvent.id)).where(AuthEvent.failure_reason == "throttled"))
    assert throttled == 2
    audit = db.session.scalar(select(AuditLog).where(AuditLog.action == "login_throttled").limit(1))
    assert audit.entity_id == str(user.id) and audit.changes["after"]["address_failures_for_login"] == limit


def test_an_attacker_elsewhere_cannot_lock_the_owner_out(app):
    owner = make_user()
    attacker = app.test_client()
    for _ in range(app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"] + 2):
        attempt(attacker, owner.email, "wrong guess", ATTACKER)
    assert attempt(attacker, owner.email, PASSWORD, ATTACKER).status_code == 429

    assert attempt(app.test_client(), owner.email, PASSWORD, OWNER).status_code == 303
    # The pressure on the account is on record for the administrators.
    delayed = db.session.scalar(select(AuditLog).where(AuditLog.action == "login_delayed").limit(1))
    assert delayed.entity_id == str(owner.id) and delayed.ip_address == OWNER


def test_guesses_from_many_addresses_slow_the_account_down_but_never_lock_it(app):
    owner = make_user()
    limit = app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
    for number in range(3):
        attacker = app.test_client()
        for _ in range(limit):
            attempt(attacker, owner.email, "wrong guess", f"198.51.100.{number + 10}")
    assert attempt(app.test_client(), owner.email, PASSWORD, OWNER).status_code == 303


def test_locked_unknown_account_gives_the_same_answer(app, client):
    limit = app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
    make_user(email="real@example.org")
    for email in ("ghost@example.org", "real@example.org"):
        for _ in range(limit):
            attempt(client, email, "wrong guess")
    ghost = attempt(client, "ghost@example.org", PASSWORD)
    real = attempt(client, "real@example.org", PASSWORD)
    assert ghost.status_code == real.status_code == 429
    message = "Too many failed sign-in attempts"
    assert message in ghost.get_data(as_text=True) and message in real.get_data(as_text=True)


def test_lock_is_per_account_other_accounts_still_sign_in(app, client):
    victim, other = make_user(), make_user()
    for _ in range(app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]):
        attempt(client, victim.email, "wrong guess")
    assert attempt(app.test_client(), other.email, PASSWORD).status_code == 303


def test_one_ip_is_refused_after_many_failures_across_accounts(app, client):
    app.config["LOGIN_MAX_FAILURES_PER_IP"] = 6
    users = [make_user() for _ in range(3)]
    for user in users:
        for _ in range(2):
            attempt(client, user.email, "wrong guess")
    fresh = make_user()
    response = attempt(client, fresh.email, PASSWORD)
    assert response.status_code == 429


def test_the_lock_expires_after_the_window(app, client):
    user = make_user()
    for _ in range(app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]):
        attempt(client, user.email, "wrong guess")
    app.config["LOGIN_WINDOW_SECONDS"] = 0  # the window has passed
    assert attempt(client, user.email, PASSWORD).status_code == 303


def test_every_attempt_is_recorded_with_ip_and_user_agent(client):
    user = make_user()
    client.post("/login", data={"email": user.email, "password": "bad", "csrf_token": csrf_token_of(client)},
                headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/150.0"})
    client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": csrf_token_of(client)},
                headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/150.0"})
    events = db.session.scalars(select(AuthEvent).where(AuthEvent.event_type == "login")
                                .order_by(AuthEvent.created_at)).all()
    assert [(e.success, e.failure_reason) for e in events] == [(False, "bad_password"), (True, None)]
    assert all(e.user_id == user.id and e.ip_address == "127.0.0.1" and "Chrome" in e.user_agent for e in events)
