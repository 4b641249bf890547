"""Register, sign in, sign out, the first admin, the account page and its sessions."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.auth.models import AuthEvent, User, UserSession
from app.extensions import db
from tests.conftest import csrf_token_of, log_in
from tests.factories import PASSWORD, make_user


def register(client, email="ada@example.org", name="Ada", password="long enough pw", confirm=None):
    token = csrf_token_of(client, "/register")
    return client.post("/register", data={
        "email": email, "display_name": name, "password": password,
        "confirm": confirm if confirm is not None else password, "csrf_token": token,
    })


@pytest.mark.postgres
def test_first_account_is_admin_and_the_second_is_a_user(app):
    first, second = app.test_client(), app.test_client()
    assert register(first, "first@example.org").status_code == 303
    assert register(second, "second@example.org").status_code == 303
    roles = dict(db.session.execute(select(User.email, User.role)).all())
    assert roles == {"first@example.org": "admin", "second@example.org": "user"}


def test_register_signs_in_and_records_the_event(client):
    response = register(client)
    assert response.status_code == 303
    page = client.get("/account")
    assert page.status_code == 200
    assert "ada@example.org" in page.get_data(as_text=True)
    event = db.session.scalar(select(AuthEvent).where(AuthEvent.event_type == "register"))
    assert event.success and event.login_identifier == "ada@example.org"


def test_invalid_registration_keeps_what_was_typed_and_explains(client):
    response = register(client, email="not-an-email", name="Grace <b>H</b>", password="short")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Invalid email address" in html
    assert "at least 8 characters" in html
    assert 'value="not-an-email"' in html
    assert "Grace &lt;b&gt;H&lt;/b&gt;" in html  # kept, and shown as text
    assert db.session.scalar(select(User)) is None


@pytest.mark.postgres
def test_duplicate_email_is_refused_with_a_message(client):
    make_user(email="taken@example.org")
    html = register(client, email="Taken@Example.org").get_data(as_text=True)
    assert "already exists" in html


def test_login_and_logout(client):
    user = make_user()
    log_in(client, user)
    assert client.get("/account").status_code == 200
    token = csrf_token_of(client, "/account")
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"].endswith("/login")
    assert client.get("/account").status_code == 302  # back to sign-in
    session_row = db.session.scalar(select(UserSession).where(UserSession.user_id == user.id))
    assert session_row.revoked_at is not None


def test_wrong_password_and_unknown_account_get_the_same_message(client):
    make_user(email="known@example.org")
    token = csrf_token_of(client)
    wrong = client.post("/login", data={"email": "known@example.org", "password": "nope nope", "csrf_token": token})
    unknown = client.post("/login", data={"email": "nobody@example.org", "password": "nope nope", "csrf_token": token})
    assert "Email or password is incorrect." in wrong.get_data(as_text=True)
    assert "Email or password is incorrect." in unknown.get_data(as_text=True)
    assert 'value="known@example.org"' in wrong.get_data(as_text=True)  # what was typed is kept
    reasons = {e.failure_reason for e in db.session.scalars(select(AuthEvent).where(AuthEvent.success.is_(False)))}
    assert reasons == {"bad_password", "unknown_account"}


def test_login_redirects_only_to_safe_next_paths(client):
    user = make_user()
    token = csrf_token_of(client)
    for hostile in ["//evil.com", "/\\evil.com", "\\/evil.com", "///evil.com", "/%09/evil.com",
                    "https:evil.com", "javascript:alert(1)", "https://evil.com/"]:
        client.get("/login")
        response = client.post("/login?next=" + hostile,
                               data={"email": user.email, "password": PASSWORD, "csrf_token": token})
        assert response.status_code in (302, 303)
        assert "evil" not in response.headers["Location"] and "javascript" not in response.headers["Location"]
        client.post("/logout", data={"csrf_token": csrf_token_of(client, "/account")})
        token = csrf_token_of(client)
    response = client.post("/login?next=/admin", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    assert response.headers["Location"] == "/admin"


def test_deactivated_account_cannot_sign_in(client):
    user = make_user(is_active=False)
    token = csrf_token_of(client)
    html = client.post("/login", data={"email": user.email, "password": PASSWORD,
                                       "csrf_token": token}).get_data(as_text=True)
    assert "deactivated" in html


def test_display_name_change_ignores_smuggled_fields(login_as):
    person = login_as("user")
    response = person.post("/account/profile", {"display_name": "New name", "role": "admin", "is_active": "0"})
    assert response.status_code == 303
    db.session.refresh(person.user)
    assert person.user.display_name == "New name" and person.user.role == "user" and person.user.is_active_account


def test_display_name_with_script_is_shown_as_text(login_as):
    person = login_as("user")
    person.post("/account/profile", {"display_name": "<script>alert(1)</script>"})
    html = person.get("/account").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_empty_display_name_is_refused_with_a_message(login_as):
    person = login_as("user")
    response = person.post("/account/profile", {"display_name": "   "}, htmx=True)
    assert response.status_code == 200
    assert "This field is required." in response.get_data(as_text=True)
    db.session.refresh(person.user)
    assert person.user.display_name.startswith("Person")


def test_password_change_signs_out_other_sessions(app, login_as):
    person = login_as("user")
    other_browser = log_in(app.test_client(), person.user)
    response = person.post("/account/password", {
        "current_password": PASSWORD, "new_password": "a brand new password", "confirm": "a brand new password"})
    assert response.status_code == 303
    assert person.get("/account").status_code == 200
    assert other_browser.get("/account").status_code == 302


def test_password_change_with_wrong_current_password_is_refused(login_as):
    person = login_as("user")
    html = person.post("/account/password", {
        "current_password": "wrong", "new_password": "a brand new password", "confirm": "a brand new password",
    }).get_data(as_text=True)
    assert "current password is not right" in html


def test_revoking_a_session_signs_that_browser_out(app, login_as):
    person = login_as("user")
    laptop = log_in(app.test_client(), person.user)
    sessions = db.session.scalars(select(UserSession).where(UserSession.user_id == person.user.id)).all()
    assert len(sessions) == 2
    # The account page lists both sessions and offers "Sign out" only for the other browser.
    page = person.get("/account").get_data(as_text=True)
    assert page.count('class="session-row"') == 2
    revocable = [s for s in sessions if f"/account/sessions/{s.id}/revoke" in page]
    assert len(revocable) == 1
    response = person.post(f"/account/sessions/{revocable[0].id}/revoke", htmx=True)
    assert response.status_code == 200 and "toast" in response.headers["HX-Trigger"]
    assert laptop.get("/account").status_code == 302
    assert person.get("/account").status_code == 200


def test_revoke_all_other_sessions(app, login_as):
    person = login_as("user")
    others = [log_in(app.test_client(), person.user) for _ in range(2)]
    assert person.post("/account/sessions/revoke-others").status_code == 303
    assert all(o.get("/account").status_code == 302 for o in others)
    assert person.get("/account").status_code == 200


def test_another_users_session_cannot_be_revoked(app, login_as):
    mallory = login_as("user")
    victim = make_user()
    victim_client = log_in(app.test_client(), victim)
    victim_session = db.session.scalar(select(UserSession).where(UserSession.user_id == victim.id))
    assert mallory.post(f"/account/sessions/{victim_session.id}/revoke").status_code == 404
    assert victim_client.get("/account").status_code == 200


def test_cli_creates_an_admin(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create", "--email", "ops@example.org", "--role", "admin",
                                 "--password", "scripted install pw"])
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "ops@example.org"))
    assert user.role == "admin"
    duplicate = runner.invoke(args=["users", "create", "--email", "ops@example.org",
                                    "--password", "scripted install pw"])
    assert duplicate.exit_code != 0 and "already exists" in duplicate.output
