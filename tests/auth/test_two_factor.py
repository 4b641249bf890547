"""Two-factor sign-in: enrolment, the code after the password, replay, recovery codes, throttling, roles."""
from __future__ import annotations

import re

import pyotp
import pytest

from app.auth import two_factor
from app.extensions import db
from tests.conftest import csrf_token_of
from tests.factories import PASSWORD, make_user


def enrol(signed_in) -> tuple[str, list[str]]:
    """Turn 2FA on through the pages; returns the secret and the recovery codes shown."""
    signed_in.post("/account/two-factor/setup")
    page = signed_in.get("/account/two-factor").get_data(as_text=True)
    assert "<svg" in page
    secret = re.search(r'class="totp-secret"[^>]*>([A-Z2-7]+)<', page).group(1)
    confirmed = signed_in.post("/account/two-factor/confirm", {"code": pyotp.TOTP(secret).now()})
    codes = re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", confirmed.get_data(as_text=True))
    return secret, codes


def password_step(client, user):
    token = csrf_token_of(client, "/login")
    return client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})


def code_step(client, code):
    token = csrf_token_of(client, "/login/two-factor")
    return client.post("/login/two-factor", data={"code": code, "csrf_token": token})


def fresh_client(app):
    return app.test_client()


@pytest.mark.postgres
def test_enrolment_then_sign_in_asks_for_the_code(app, login_as):
    signed_in = login_as("user")
    secret, codes = enrol(signed_in)
    assert len(codes) == 10 and two_factor.is_enabled(signed_in.user.id)
    assert not any(code in row for row in db.session.scalars(db.text("SELECT code_hash FROM user_recovery_codes"))
                   for code in codes)
    client = fresh_client(app)
    response = password_step(client, signed_in.user)
    assert response.status_code == 303 and "/login/two-factor" in response.headers["Location"]
    assert client.get("/account").status_code == 302  # not signed in yet
    wrong = code_step(client, "000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    assert "not right" in wrong.get_data(as_text=True)
    # The code used for confirmation is not taken again (its own step's code: "now" may be the next one
    # if a 30-second step ended during the test).
    confirmed_step = two_factor.method_of(signed_in.user.id).last_used_step
    confirmation_code = pyotp.TOTP(secret).at(confirmed_step * 30)
    assert "not right" in code_step(client, confirmation_code).get_data(as_text=True)


def test_a_used_code_is_not_replayed(app, login_as):
    signed_in = login_as("user")
    secret, _codes = enrol(signed_in)
    method = two_factor.method_of(signed_in.user.id)
    method.last_used_step = None  # as if the confirmation code was long ago
    db.session.commit()
    client = fresh_client(app)
    password_step(client, signed_in.user)
    code = pyotp.TOTP(secret).now()
    assert code_step(client, code).status_code == 303
    assert client.get("/account").status_code == 200
    other = fresh_client(app)
    password_step(other, signed_in.user)
    assert "not right" in code_step(other, code).get_data(as_text=True)


@pytest.mark.postgres
def test_recovery_code_works_once(app, login_as):
    signed_in = login_as("user")
    _secret, codes = enrol(signed_in)
    client = fresh_client(app)
    password_step(client, signed_in.user)
    assert code_step(client, codes[0].upper()).status_code == 303
    again = fresh_client(app)
    password_step(again, signed_in.user)
    assert "not right" in code_step(again, codes[0]).get_data(as_text=True)
    assert code_step(again, codes[1]).status_code == 303


def test_wrong_codes_are_throttled_like_passwords(app, login_as):
    app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"] = 3
    signed_in = login_as("user")
    secret, codes = enrol(signed_in)
    client = fresh_client(app)
    password_step(client, signed_in.user)
    for _ in range(3):
        code_step(client, "abcde-fghjk")
    throttled = code_step(client, codes[0])  # even a right code is refused now
    assert throttled.status_code == 429 and "Too many" in throttled.get_data(as_text=True)


def test_disabling_asks_for_a_code(app, login_as):
    signed_in = login_as("user")
    _secret, codes = enrol(signed_in)
    signed_in.post("/account/two-factor/disable", {"code": "nonsense"})
    assert two_factor.is_enabled(signed_in.user.id)
    signed_in.post("/account/two-factor/disable", {"code": codes[0]})
    assert not two_factor.is_enabled(signed_in.user.id)


def test_role_requirement_sends_people_to_enrolment(app, login_as):
    admin = make_user("admin")
    two_factor.set_role_requirement(admin, "user", True, two_factor.Origin("127.0.0.1", None))
    signed_in = login_as("user")
    response = signed_in.get("/chat")
    assert response.status_code == 303 and response.headers["Location"].endswith("/account/two-factor")
    assert signed_in.get("/account/two-factor").status_code == 200
    signed_in._token = csrf_token_of(signed_in.client, "/account/two-factor")  # /account is closed to them now
    enrol(signed_in)
    assert signed_in.get("/chat").status_code == 200
