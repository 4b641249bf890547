"""Single sign-on through a real OpenID provider (panva's oidc-provider, run with Node): accounts made,
found and linked; and refused: a wrong or replayed `state`, a provider's refusal, an unreachable
issuer, an unverified e-mail that matches an existing account. ID tokens a real provider would never
send (another audience or issuer, an old nonce, a foreign key) come from a fake issuer in test_oidc_tokens.py."""
from __future__ import annotations

import os
import re
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from app.auth import two_factor
from app.auth.models import AuthEvent, User, UserSession
from app.auth.oidc_models import UserIdentity
from app.extensions import db
from app.models.base import utcnow
from app.security.audit import AuditLog
from tests.conftest import csrf_token_of
from tests.factories import PASSWORD, make_user
from tests.fakes.oidc import NodeProvider, sign_in_at_provider
from tests.helpers.browser import VIEWPORTS
from tests.helpers.servers import free_port

SHOTS = os.environ.get("STUDIO_SCREENSHOTS", "/tmp/shots")


@pytest.fixture(scope="session")
def oidc_provider():
    """oidc-provider, started once per test session (each xdist worker has its own)."""
    provider = NodeProvider().start()
    yield provider
    provider.stop()


@pytest.fixture
def sso(app, oidc_provider):
    app.config.update(oidc_provider.settings())
    return oidc_provider


def local(url: str) -> str:
    """The path and query of a URL, as the test client asks for it."""
    parts = urlparse(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def start(client, path: str = "/login/oidc") -> str:
    """Press the button: returns where Studio sends the browser (the provider's authorization URL)."""
    response = client.get(path)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return response.headers["Location"]


def sso_sign_in(client, username: str, path: str = "/login/oidc"):
    """The whole round trip: Studio → the provider (signed in as `username`) → Studio's callback."""
    return client.get(local(sign_in_at_provider(start(client, path), username)))


def signed_in_as(client) -> str | None:
    """The e-mail of the account the client is signed in as, as /account says it; None if signed out."""
    response = client.get("/account")
    if response.status_code != 200:
        return None
    return re.search(r"Signed in as (\S+) ·", response.get_data(as_text=True)).group(1)


def refusal_on_login_page(client, response) -> str:
    """Follow a refused sign-in back to /login; returns the page (which shows the reason)."""
    assert response.status_code == 303 and response.headers["Location"].endswith("/login"), response.status_code
    return client.get("/login").get_data(as_text=True)


def sso_events() -> list[AuthEvent]:
    return list(db.session.scalars(select(AuthEvent).where(AuthEvent.event_type == "sso_login")
                                   .order_by(AuthEvent.created_at)))


def session_count() -> int:
    return db.session.scalar(select(func.count(UserSession.id)))


def test_the_button_shows_only_when_single_sign_on_is_configured(app, client, oidc_provider):
    assert "Sign in with" not in client.get("/login").get_data(as_text=True)
    assert client.get("/login/oidc").status_code == 404
    assert client.get("/login/oidc/callback?code=x&state=y").status_code == 404
    app.config.update(oidc_provider.settings())
    for page in ("/login", "/register"):
        html = client.get(page).get_data(as_text=True)
        assert 'href="/login/oidc">Sign in with Test provider</a>' in html and 'name="password"' in html
    assert 'href="/login/oidc?next=/prompts">' in client.get("/login?next=/prompts").get_data(as_text=True)


@pytest.mark.postgres
def test_first_sign_in_creates_the_account_and_later_ones_find_it_by_subject(app, client, sso):
    make_user("admin")  # not the first account: that one would become admin
    authorize = start(client, "/login/oidc?next=/prompts")
    query = parse_qs(urlparse(authorize).query)
    assert authorize.startswith(f"{sso.issuer}/auth?")
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["scope"] == ["openid email profile groups"] and query["nonce"] and query["state"]
    assert query["redirect_uri"] == ["http://localhost/login/oidc/callback"]

    answer = client.get(local(sign_in_at_provider(authorize, "alice")))
    assert answer.status_code == 303 and answer.headers["Location"] == "/prompts"
    assert signed_in_as(client) == "alice@example.org"
    alice = db.session.scalar(select(User).where(User.email == "alice@example.org"))
    assert (alice.role, alice.display_name, alice.approval_status) == ("user", "Alice Example", "approved")
    identity = db.session.scalar(select(UserIdentity))
    assert (identity.user_id, identity.issuer, identity.subject) == (alice.id, sso.issuer, "alice")
    assert db.session.scalar(select(AuditLog.action).where(AuditLog.entity_id == str(alice.id))) == "sso_created"
    assert alice.hashed_password.startswith("$argon2id$")  # of a random password nobody knows

    client.post("/logout", data={"csrf_token": csrf_token_of(client, "/account")})
    assert signed_in_as(client) is None
    again = sso_sign_in(client, "alice")
    assert again.status_code == 303 and signed_in_as(client) == "alice@example.org"
    assert db.session.scalar(select(func.count(User.id))) == 2  # found, not made again
    assert [(e.user_id, e.success, e.login_identifier) for e in sso_events()] == [
        (alice.id, True, "alice@example.org"), (alice.id, True, "alice@example.org")]


def test_a_verified_email_joins_the_existing_account(app, client, sso):
    existing = make_user(email="victim@example.org", display_name="Victor")
    assert sso_sign_in(client, "victor").status_code == 303
    assert signed_in_as(client) == "victim@example.org"
    assert db.session.scalar(select(UserIdentity.user_id)) == existing.id
    assert db.session.scalar(select(func.count(User.id))) == 1
    actions = db.session.scalars(select(AuditLog.action).where(AuditLog.entity_id == str(existing.id))).all()
    assert "sso_linked" in actions


def test_an_unverified_email_never_takes_over_an_existing_account(app, client, sso):
    victim = make_user(email="victim@example.org")
    page = refusal_on_login_page(client, sso_sign_in(client, "mallory"))
    assert "has not confirmed that this address is yours" in page and "victim@example.org" in page
    assert signed_in_as(client) is None and session_count() == 0
    assert db.session.scalar(select(func.count(UserIdentity.id))) == 0
    [event] = sso_events()
    assert (event.user_id, event.success, event.failure_reason) == (victim.id, False, "unverified_email")
    # The owner still signs in with the password.
    form = {"email": "victim@example.org", "password": PASSWORD, "csrf_token": csrf_token_of(client)}
    assert client.post("/login", data=form).status_code == 303


def test_a_wrong_state_is_refused(app, client, sso):
    callback = sign_in_at_provider(start(client), "alice")
    forged = callback.replace("state=", "state=x")
    page = refusal_on_login_page(client, client.get(local(forged)))
    assert "expired or was used already" in page and signed_in_as(client) is None
    # Someone else's callback in this browser (login CSRF): no state of this browser matches.
    other = app.test_client()
    theirs = sign_in_at_provider(start(other), "alice")
    assert refusal_on_login_page(client, client.get(local(theirs))) and signed_in_as(client) is None
    assert [e.failure_reason for e in sso_events()] == ["state_mismatch", "state_mismatch"]
    assert db.session.scalar(select(func.count(User.id))) == 0


def test_a_replayed_callback_signs_nobody_in(app, client, sso):
    callback = sign_in_at_provider(start(client), "alice")
    assert client.get(local(callback)).status_code == 303 and signed_in_as(client) == "alice@example.org"
    # The same answer again, from a browser that captured it: its state (with the nonce) is spent.
    thief = app.test_client()
    thief.get("/login")  # a session of its own
    page = refusal_on_login_page(thief, thief.get(local(callback)))
    assert "expired or was used already" in page and signed_in_as(thief) is None
    client.post("/logout", data={"csrf_token": csrf_token_of(client, "/account")})
    assert refusal_on_login_page(client, client.get(local(callback)))
    assert session_count() == 1 and [e.success for e in sso_events()] == [True, False, False]


def test_the_provider_refusing_shows_why_on_the_sign_in_page(app, client, sso):
    callback = sign_in_at_provider(start(client), None, cancel=True)
    assert "error=access_denied" in callback
    page = refusal_on_login_page(client, client.get(local(callback)))
    assert "Test provider did not sign you in (access was denied)." in page
    [event] = sso_events()
    assert (event.success, event.failure_reason) == (False, "provider_error:access_denied")
    # An error nobody's sign-in is waiting for (a crafted link) shows no text of its own.
    crafted = client.get("/login/oidc/callback?error=Call+0800+to+unlock&state=made-up")
    page = refusal_on_login_page(client, crafted)
    assert "0800" not in page and "expired or was used already" in page


def test_an_unreachable_provider_is_a_message_not_an_error(app, client):
    app.config.update(OIDC_ISSUER=f"http://127.0.0.1:{free_port()}", OIDC_CLIENT_ID="studio", OIDC_LABEL="Acme ID")
    page = refusal_on_login_page(client, client.get("/login/oidc"))
    assert "Acme ID cannot be reached right now" in page
    [event] = sso_events()
    assert (event.success, event.failure_reason) == (False, "provider_unreachable")


def test_groups_give_roles_and_the_organisation_vouches_for_its_admins(app, sso):
    app.config.update(OIDC_ADMIN_GROUP="studio-admins", OIDC_MODERATOR_GROUP="studio-moderators",
                      SIGNUP_APPROVAL=True)
    make_user("admin")
    roles = {}
    for username in ("ann", "max", "alice"):
        client = app.test_client()
        sso_sign_in(client, username)
        user = db.session.scalar(select(User).join(UserIdentity).where(UserIdentity.subject == username))
        roles[username] = (user.role, user.approval_status)
    assert roles == {"ann": ("admin", "approved"), "max": ("moderator", "approved"), "alice": ("user", "pending")}
    # Made moderator by hand, then the groups (only "staff") say otherwise at the next sign-in.
    alice = db.session.scalar(select(User).where(User.email == "alice@example.org"))
    alice.role = "moderator"
    db.session.commit()
    sso_sign_in(app.test_client(), "alice")
    db.session.refresh(alice)
    assert alice.role == "user"


def test_a_pending_account_waits_for_approval_as_with_a_password(app, client, sso):
    app.config.update(SIGNUP_APPROVAL=True)
    make_user("admin")
    answer = sso_sign_in(client, "alice")
    assert answer.status_code == 303
    assert client.get("/").headers["Location"].endswith("/waiting")
    assert client.get("/prompts").status_code == 403
    alice = db.session.scalar(select(User).where(User.email == "alice@example.org"))
    assert alice.approval_status == "pending" and alice.role == "user"


def test_a_deactivated_account_is_refused(app, client, sso):
    sso_sign_in(app.test_client(), "alice")
    alice = db.session.scalar(select(User).where(User.email == "alice@example.org"))
    alice.is_active_account = False
    db.session.commit()
    page = refusal_on_login_page(client, sso_sign_in(client, "alice"))
    assert "This account is deactivated" in page and signed_in_as(client) is None
    assert [(e.success, e.failure_reason) for e in sso_events()] == [(True, None), (False, "deactivated")]


def test_an_account_with_two_factor_still_gives_its_code(app, client, sso):
    person = make_user(email="alice@example.org")
    method = two_factor.begin_enrolment(person)
    method.verified_at = utcnow()
    db.session.commit()
    answer = sso_sign_in(client, "alice")
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/login/two-factor")
    assert signed_in_as(client) is None and session_count() == 0
    assert "Code from your authenticator app" in client.get("/login/two-factor").get_data(as_text=True)


def test_with_passwords_off_only_single_sign_on_and_the_break_glass_cli_remain(app, client, sso):
    app.config.update(PASSWORD_LOGIN=False)
    person = make_user(email="pat@example.org")
    login_page = client.get("/login").get_data(as_text=True)
    assert 'name="password"' not in login_page and "Sign in with Test provider" in login_page
    assert 'name="password"' not in client.get("/register").get_data(as_text=True)
    token = csrf_token_of(client)
    refused = client.post("/login", data={"email": person.email, "password": PASSWORD, "csrf_token": token})
    assert refused.status_code == 403 and "Passwords are turned off" in refused.get_data(as_text=True)
    registered = client.post("/register", data={"email": "new@example.org", "display_name": "New", "password": PASSWORD,
                                                "confirm": PASSWORD, "csrf_token": token})
    assert registered.status_code == 403 and session_count() == 0
    assert db.session.scalar(select(func.count(User.id))) == 1
    assert sso_sign_in(client, "alice").status_code == 303 and signed_in_as(client) == "alice@example.org"
    # No password to change, forget or reset either.
    assert 'name="current_password"' not in client.get("/account").get_data(as_text=True)
    changed = client.post("/account/password", data={"current_password": "x", "new_password": "long enough 1",
                                                     "confirm": "long enough 1",
                                                     "csrf_token": csrf_token_of(client, "/account")})
    assert changed.status_code == 403
    assert client.get("/password/forgot").status_code == 404
    assert client.get("/password/reset/some-token").status_code == 404

    result = app.test_cli_runner().invoke(args=["users", "reset-password", "--email", person.email,
                                                "--password", "break glass 123"])
    assert result.exit_code == 0 and "Set a new password" in result.output


@pytest.mark.browser
def test_a_person_signs_in_through_the_provider_in_chromium(app, browser, live_server, sso):
    make_user("admin")
    context = browser.new_context(viewport=VIEWPORTS["desktop"])
    page = context.new_page()
    page.goto(f"{live_server}/login?next=/prompts")
    page.screenshot(path=f"{SHOTS}/sso_login.png", full_page=True)
    page.get_by_role("link", name="Sign in with Test provider").click()
    page.get_by_label("Username").fill("alice")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server}/prompts")
    page.goto(f"{live_server}/account")
    expect(page.get_by_text("Signed in as alice@example.org")).to_be_visible()

    context.close()

    # In another browser (no session at the provider), a refusal there is a message on the sign-in page.
    context = browser.new_context(viewport=VIEWPORTS["desktop"])
    page = context.new_page()
    page.goto(f"{live_server}/login")
    page.get_by_role("link", name="Sign in with Test provider").click()
    page.get_by_role("button", name="Cancel").click()
    page.wait_for_url(f"{live_server}/login")
    expect(page.get_by_text("Test provider did not sign you in (access was denied).")).to_be_visible()
    page.screenshot(path=f"{SHOTS}/sso_refused.png", full_page=True)

    app.config.update(PASSWORD_LOGIN=False)
    page.goto(f"{live_server}/login")
    expect(page.get_by_label("Password")).to_have_count(0)
    page.screenshot(path=f"{SHOTS}/sso_only_login.png", full_page=True)
    context.close()
