"""STUDIO_EMAIL_VERIFICATION: a sign-up confirms its address by a mailed link before it can chat."""
from __future__ import annotations

from urllib.parse import urlparse

from app.auth.services import get_user_by_email
from app.jobs import runner
from tests.auth.test_password_reset import smtp  # noqa: F401 - the local SMTP server fixture
from tests.conftest import csrf_token_of
from tests.factories import make_user


def sign_up(client, email: str = "grace@example.org"):
    token = csrf_token_of(client, "/register")
    return client.post("/register", data={"email": email, "display_name": "Grace", "password": "long enough pw",
                                          "confirm": "long enough pw", "csrf_token": token})


def test_a_new_account_confirms_its_address_before_it_can_chat(app, client, smtp):  # noqa: F811
    app.config["EMAIL_VERIFICATION"] = True
    make_user(role="admin")  # the first account is the admin, who never waits
    assert sign_up(client).status_code == 303
    assert get_user_by_email("grace@example.org").is_email_verified is False
    chat = client.get("/chat")
    assert chat.status_code == 302 and chat.headers["Location"].endswith("/email/verify")
    assert "Confirm your e-mail" in client.get("/email/verify").get_data(as_text=True)

    assert runner.run_pending() == 1
    [mail] = smtp.mailbox.messages
    assert mail["To"] == "grace@example.org"
    path = urlparse(smtp.mailbox.links(mail)[0]).path
    assert client.get(path).status_code == 200  # a GET shows a button and changes nothing
    assert get_user_by_email("grace@example.org").is_email_verified is False
    confirmed = client.post(path, data={"csrf_token": csrf_token_of(client, path)})
    assert confirmed.status_code == 303
    assert get_user_by_email("grace@example.org").is_email_verified is True
    assert client.get("/chat").status_code == 200
    assert client.get(path).status_code == 404  # used once


def test_without_the_setting_new_accounts_chat_at_once(app, client):
    make_user(role="admin")
    assert sign_up(client).status_code == 303
    assert get_user_by_email("grace@example.org").is_email_verified is True
    assert client.get("/chat").status_code == 200
