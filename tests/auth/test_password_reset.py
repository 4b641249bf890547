"""Password reset: by mail through a real SMTP server, or by a link an admin makes; single use, one hour."""
from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlparse

import pytest
from sqlalchemy import select

from app.auth.models import AuthEvent, UserSession
from app.auth.token_models import AccountToken
from app.extensions import db
from app.jobs import runner
from app.security.audit import AuditLog
from tests.conftest import csrf_token_of, log_in
from tests.factories import PASSWORD, make_user
from tests.fakes.smtp import SmtpServer

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def smtp(app):
    """A local SMTP server the app mails through; jobs run when the test says so."""
    server = SmtpServer().start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port, MAIL_USE_TLS=False,
                      MAIL_DEFAULT_SENDER="Studio <studio@example.org>", STUDIO_BASE_URL="https://studio.example.org",
                      MAIL_SUPPRESS_SEND=False, JOBS_WORKER_THREAD=False)
    from app.extensions import mail

    mail.init_app(app)  # Flask-Mail reads its settings when bound
    yield server
    server.stop()


def ask_for_reset(client, email: str):
    token = csrf_token_of(client, "/password/forgot")
    return client.post("/password/forgot", data={"email": email, "csrf_token": token})


def path_of(link: str) -> str:
    return urlparse(link).path


def set_new_password(client, path: str, password: str = NEW_PASSWORD):
    return client.post(path, data={"new_password": password, "confirm": password,
                                   "csrf_token": csrf_token_of(client, path)})


def can_sign_in(app, user, password: str) -> bool:
    client = app.test_client()
    response = client.post("/login", data={"email": user.email, "password": password,
                                           "csrf_token": csrf_token_of(client, "/login")})
    return response.status_code == 303


@pytest.mark.postgres
def test_a_mailed_link_sets_a_new_password_and_ends_the_old_sessions(app, client, smtp):
    person = make_user(email="ada@example.org", display_name="Ada")
    elsewhere = log_in(app.test_client(), person)
    assert elsewhere.get("/account").status_code == 200

    page = ask_for_reset(client, "Ada@Example.org ")
    assert page.status_code == 200 and "Check your e-mail" in page.get_data(as_text=True)
    assert runner.run_pending() == 1

    assert db.session.scalar(select(runner.Job.error)) is None
    [mail] = smtp.mailbox.messages
    assert mail["To"] == "ada@example.org" and "reset" in mail["Subject"].lower()
    [link] = smtp.mailbox.links(mail)
    assert link.startswith("https://studio.example.org/password/reset/")
    assert link in smtp.mailbox.html_of(mail) and "Ada" in smtp.mailbox.text_of(mail)
    token = path_of(link).rsplit("/", 1)[1]
    assert len(token) >= 43  # 256 bits, url-safe
    assert db.session.scalar(select(AccountToken.token_digest)) != token  # only a keyed hash is stored
    assert token not in str(db.session.execute(select(runner.Job.payload)).all())

    assert client.get(path_of(link)).status_code == 200
    done = set_new_password(client, path_of(link))
    assert done.status_code == 303 and done.headers["Location"].endswith("/login")

    assert elsewhere.get("/account").status_code == 302  # the old session has ended
    assert db.session.scalar(select(UserSession.revoked_reason).where(UserSession.user_id == person.id)) \
        == "password reset"
    assert can_sign_in(app, person, NEW_PASSWORD) and not can_sign_in(app, person, PASSWORD)
    assert db.session.scalar(select(AuditLog.action).where(AuditLog.action == "reset_password")) == "reset_password"
    assert db.session.scalar(select(AuthEvent.id).where(AuthEvent.event_type == "password_reset",
                                                        AuthEvent.user_id == person.id)) is not None


def test_a_link_works_once(app, client, smtp):
    person = make_user()
    ask_for_reset(client, person.email)
    runner.run_pending()
    path = path_of(smtp.mailbox.links(smtp.mailbox.messages[0])[0])
    assert set_new_password(client, path).status_code == 303
    again = set_new_password(client, path, "yet another passphrase")
    assert again.status_code == 404 and "no longer works" in again.get_data(as_text=True)
    assert client.get(path).status_code == 404
    assert can_sign_in(app, person, NEW_PASSWORD)


def test_a_link_no_longer_works_after_an_hour(app, client, smtp):
    person = make_user()
    ask_for_reset(client, person.email)
    runner.run_pending()
    path = path_of(smtp.mailbox.links(smtp.mailbox.messages[0])[0])
    # An hour and a minute later: move the stored times back rather than wait.
    for row in db.session.scalars(select(AccountToken)):
        row.created_at -= timedelta(minutes=61)
        row.expires_at -= timedelta(minutes=61)
    db.session.commit()
    assert client.get(path).status_code == 404
    assert set_new_password(client, path).status_code == 404
    assert can_sign_in(app, person, PASSWORD)


def test_an_unknown_address_gets_the_same_page_and_no_mail(app, client, smtp):
    person = make_user()
    known = ask_for_reset(client, person.email).get_data(as_text=True)
    unknown = ask_for_reset(app.test_client(), "nobody@example.org").get_data(as_text=True)
    assert _same_apart_from_tokens(known.replace(person.email, "E"), unknown.replace("nobody@example.org", "E"))
    assert runner.run_pending() == 1
    assert [m["To"] for m in smtp.mailbox.messages] == [person.email]


def _same_apart_from_tokens(first: str, second: str) -> bool:
    def without(html):
        return re.sub(r'(value|content)="[^"]{20,}"', "", re.sub(r'"X-CSRFToken": "[^"]+"', "", html))

    return without(first) == without(second)


def test_a_deactivated_account_gets_no_mail(app, client, smtp):
    person = make_user(is_active=False)
    assert ask_for_reset(client, person.email).status_code == 200
    assert runner.run_pending() == 0 and smtp.mailbox.messages == []


def test_resets_are_limited_per_account_and_per_address(app, smtp):
    app.config.update(PASSWORD_RESETS_PER_ACCOUNT_PER_HOUR=2, LIMIT_PASSWORD_RESETS_PER_HOUR=4)
    person = make_user()
    for address in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        assert ask_for_reset(client, person.email).status_code == 200  # the same page, mail or not
    runner.run_pending()
    assert len(smtp.mailbox.messages) == 2
    busy = app.test_client()
    busy.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    answers = [ask_for_reset(busy, f"someone{n}@example.org").status_code for n in range(5)]
    assert answers == [200, 200, 200, 200, 429]


def test_an_admin_made_link_works_without_a_mail_server(app, client, login_as):
    assert not app.config["MAIL_SERVER"]
    person = make_user()
    elsewhere = log_in(app.test_client(), person)
    admin = login_as("admin")
    detail = admin.get(f"/admin/users/{person.id}").get_data(as_text=True)
    assert "Make password reset link" in detail
    page = admin.post(f"/admin/users/{person.id}/password-reset-link")
    assert page.status_code == 200
    link = re.search(r'value="(http[^"]+/password/reset/[^"]+)"', page.get_data(as_text=True)).group(1)
    assert set_new_password(client, path_of(link)).status_code == 303
    assert elsewhere.get("/account").status_code == 302
    assert can_sign_in(app, person, NEW_PASSWORD)
    assert set_new_password(client, path_of(link), "again and again").status_code == 404
    made = db.session.scalar(select(AuditLog).where(AuditLog.action == "make_password_reset_link"))
    assert made.user_id == admin.user.id and made.entity_id == str(person.id)


def test_without_a_mail_server_the_forgot_page_says_to_ask_an_admin(client):
    assert "ask an administrator" in client.get("/password/forgot").get_data(as_text=True)


def test_people_other_than_admins_cannot_make_reset_links(login_as):
    person, victim = login_as("moderator"), make_user()
    assert person.post(f"/admin/users/{victim.id}/password-reset-link").status_code == 403


def test_the_command_line_resets_a_password_and_ends_sessions(app):
    person = make_user()
    elsewhere = log_in(app.test_client(), person)
    result = app.test_cli_runner().invoke(args=["users", "reset-password", "--email", person.email,
                                                "--password", NEW_PASSWORD])
    assert result.exit_code == 0, result.output
    assert elsewhere.get("/account").status_code == 302
    assert can_sign_in(app, person, NEW_PASSWORD)
    unknown = app.test_cli_runner().invoke(args=["users", "reset-password", "--email", "no@example.org",
                                                 "--password", NEW_PASSWORD])
    assert unknown.exit_code != 0 and "No account" in unknown.output
