"""An account single sign-on created has a random password nobody was told: /account offers to set
one through a mailed link (proving the mailbox is theirs) instead of asking for a current password it
never had; an account with a password of its own keeps "Change password"."""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from app.auth.routes import PASSWORD_LOGIN_OFF
from app.auth.services import get_user_by_email
from app.extensions import db
from app.jobs import runner
from tests.conftest import csrf_token_of
from tests.factories import PASSWORD, make_user
from tests.fakes.oidc.fake_issuer import FakeIssuer
from tests.fakes.smtp import SmtpServer

NEW_PASSWORD = "a first passphrase of mine"


@pytest.fixture(scope="module")
def issuer():
    with FakeIssuer() as fake:
        yield fake


@pytest.fixture
def sso(app, issuer):
    app.config.update(issuer.settings(), JOBS_WORKER_THREAD=False)
    return issuer


@pytest.fixture
def smtp(app, sso):
    server = SmtpServer().start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port, MAIL_USE_TLS=False,
                      MAIL_DEFAULT_SENDER="Studio <studio@example.org>", STUDIO_BASE_URL="https://studio.example.org",
                      MAIL_SUPPRESS_SEND=False)
    from app.extensions import mail

    mail.init_app(app)
    yield server
    server.stop()


def sso_sign_in(client, issuer, email: str, subject: str = "sso-person"):
    """Sign in through the fake provider as it would answer for `email`; the account is made or linked."""
    response = client.get("/login/oidc")
    query = {name: values[0] for name, values in parse_qs(urlparse(response.headers["Location"]).query).items()}
    issuer.next_id_token = issuer.id_token(query["nonce"], sub=subject, email=email, name="Sam")
    answer = client.get(f"/login/oidc/callback?code=the-code&state={query['state']}")
    assert answer.status_code == 303, answer.get_data(as_text=True)[:300]
    return get_user_by_email(email)


def can_sign_in(app, email: str, password: str) -> bool:
    client = app.test_client()
    response = client.post("/login", data={"email": email, "password": password,
                                           "csrf_token": csrf_token_of(client, "/login")})
    return response.status_code == 303


@pytest.mark.postgres
def test_an_account_single_sign_on_created_sets_its_first_password_through_the_mailed_link(app, client, sso, smtp):
    sso_sign_in(client, sso, "sam@example.org")
    page = client.get("/account").get_data(as_text=True)
    assert "has no password of its own" in page and "E-mail me a link to set a password" in page
    assert 'name="current_password"' not in page
    token = csrf_token_of(client, "/account")
    guessed = client.post("/account/password", data={"current_password": "anything", "new_password": NEW_PASSWORD,
                                                     "confirm": NEW_PASSWORD, "csrf_token": token})
    assert guessed.status_code == 403 and "no password yet" in guessed.get_data(as_text=True)
    assert client.post("/account/password/link").status_code == 400  # no CSRF token
    assert runner.run_pending() == 0

    asked = client.post("/account/password/link", data={"csrf_token": token})

    assert asked.status_code == 303 and asked.headers["Location"].endswith("/account")
    assert runner.run_pending() == 1
    [mail] = smtp.mailbox.messages
    assert mail["To"] == "sam@example.org"
    path = urlparse(smtp.mailbox.links(mail)[0]).path
    set_it = client.post(path, data={"new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD,
                                     "csrf_token": csrf_token_of(client, path)})
    assert set_it.status_code == 303 and set_it.headers["Location"].endswith("/account")  # still signed in
    page = client.get("/account").get_data(as_text=True)
    assert 'name="current_password"' in page and "has no password of its own" not in page
    assert can_sign_in(app, "sam@example.org", NEW_PASSWORD)


def test_without_mail_the_account_page_explains_and_no_link_is_made(app, client, sso):
    sso_sign_in(client, sso, "noor@example.org", subject="noor")
    page = client.get("/account").get_data(as_text=True)
    assert "ask an administrator for a link to set one" in page and "E-mail me a link" not in page
    refused = client.post("/account/password/link", data={"csrf_token": csrf_token_of(client, "/account")})
    assert refused.status_code == 403 and "cannot send mail" in refused.get_data(as_text=True)
    assert runner.run_pending() == 0


def test_an_account_with_its_own_password_keeps_change_password_when_linked_to_single_sign_on(app, client, sso):
    person = make_user(email="pat@example.org")
    assert sso_sign_in(client, sso, "pat@example.org", subject="pat").id == person.id  # linked, not created
    page = client.get("/account").get_data(as_text=True)
    assert 'name="current_password"' in page and "has no password of its own" not in page
    db.session.expire_all()
    assert can_sign_in(app, "pat@example.org", PASSWORD)


def test_with_passwords_off_every_password_path_says_the_same(app, client, sso):
    sso_sign_in(client, sso, "lee@example.org", subject="lee")
    app.config.update(PASSWORD_LOGIN=False)
    token = csrf_token_of(client, "/account")
    answers = [client.post("/account/password/link", data={"csrf_token": token}),
               client.post("/account/password", data={"csrf_token": token}),
               client.get("/password/forgot"),
               app.test_client().get("/password/reset/some-token")]
    assert [answer.status_code for answer in answers] == [403, 403, 404, 404]
    for answer in answers:
        assert PASSWORD_LOGIN_OFF.replace("'", "&#39;") in answer.get_data(as_text=True)
