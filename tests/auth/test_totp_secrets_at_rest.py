"""Two-factor secrets at rest: only ciphertext in the database, plain secrets from before still work
and are encrypted at their next use or by the CLI, and a key that changed gives a clear refusal."""
from __future__ import annotations

import logging
import re
import time

import pyotp
import pytest
from sqlalchemy import Uuid, bindparam, text

from app.auth import totp_secrets, two_factor
from app.auth.two_factor_models import MfaMethod
from app.extensions import db
from app.models.base import utcnow
from tests.auth.test_two_factor import code_step, enrol, password_step
from tests.factories import make_user


def stored_secret(user) -> str:
    """The column as a database dump shows it."""
    query = text("SELECT secret FROM user_mfa_methods WHERE user_id = :user_id").bindparams(
        bindparam("user_id", type_=Uuid()))
    return db.session.execute(query, {"user_id": user.id}).scalar_one()


def with_method(user, stored: str) -> None:
    db.session.add(MfaMethod(user_id=user.id, method_type="totp", secret=stored, verified_at=utcnow()))
    db.session.commit()


def opens_under(app, keys: tuple[str, ...], stored: str) -> str:
    """The secret `stored` holds, opened with only `keys` configured."""
    before = app.config["TOTP_ENCRYPTION_KEYS"]
    app.config["TOTP_ENCRYPTION_KEYS"] = keys
    try:
        return totp_secrets.open_secret(stored).secret
    finally:
        app.config["TOTP_ENCRYPTION_KEYS"] = before


def next_step_code(secret: str) -> str:
    """The code of the coming 30-second step (accepted: one step of drift), newer than any used now."""
    return pyotp.TOTP(secret).at(time.time() + two_factor.STEP_SECONDS)


@pytest.mark.postgres
def test_enrolment_stores_only_ciphertext_and_codes_still_work(app, login_as):
    signed_in = login_as("user")
    signed_in.post("/account/two-factor/setup")
    pending = stored_secret(signed_in.user)
    assert pending.startswith("v1:")
    secret, codes = enrol(signed_in)  # the page shows the secret to scan; the column never holds it
    stored = stored_secret(signed_in.user)
    assert len(codes) == 10 and stored.startswith("v1:") and secret not in stored
    assert opens_under(app, (app.config["SECRET_KEY"],), stored) == secret
    client = app.test_client()
    password_step(client, signed_in.user)
    assert code_step(client, next_step_code(secret)).status_code == 303
    assert client.get("/account").status_code == 200


@pytest.mark.postgres
def test_a_plain_secret_from_before_still_signs_in_and_is_encrypted_then(app):
    person = make_user()
    secret = pyotp.random_base32()
    with_method(person, secret)
    client = app.test_client()
    password_step(client, person)
    assert code_step(client, pyotp.TOTP(secret).now()).status_code == 303
    stored = stored_secret(person)
    assert stored.startswith("v1:") and secret not in stored
    assert opens_under(app, (app.config["SECRET_KEY"],), stored) == secret


@pytest.mark.postgres
def test_a_changed_key_is_refused_clearly_and_an_old_key_listed_opens_again(app, login_as, caplog):
    signed_in = login_as("user")
    secret, codes = enrol(signed_in)
    old_key = app.config["SECRET_KEY"]
    app.config["TOTP_ENCRYPTION_KEYS"] = ("a new key, without the old one",)
    client = app.test_client()
    password_step(client, signed_in.user)
    with caplog.at_level(logging.ERROR):
        refused = code_step(client, next_step_code(secret))
    assert refused.status_code == 200 and client.get("/account").status_code == 302
    assert "cannot be checked" in refused.get_data(as_text=True) and "recovery code" in refused.get_data(as_text=True)
    assert str(signed_in.user.id) in caplog.text and "STUDIO_TOTP_ENCRYPTION_KEYS" in caplog.text
    # Turning it off with an app code is refused the same way; the account page itself still opens.
    turned_off = signed_in.post("/account/two-factor/disable", {"code": next_step_code(secret)})
    assert turned_off.status_code == 200 and "cannot be checked" in turned_off.get_data(as_text=True)
    assert two_factor.is_enabled(signed_in.user.id)
    # A recovery code still signs in.
    assert code_step(client, codes[0]).status_code == 303
    # With the old key listed after the new one, the app's codes work again and the secret moves to the new key.
    app.config["TOTP_ENCRYPTION_KEYS"] = ("the new key", old_key)
    other = app.test_client()
    password_step(other, signed_in.user)
    assert code_step(other, next_step_code(secret)).status_code == 303
    assert opens_under(app, ("the new key",), stored_secret(signed_in.user)) == secret


def test_a_setup_under_a_changed_key_asks_to_start_again(app, login_as):
    signed_in = login_as("user")
    signed_in.post("/account/two-factor/setup")
    app.config["TOTP_ENCRYPTION_KEYS"] = ("another key",)
    page = signed_in.get("/account/two-factor")
    assert page.status_code == 200 and "Set up two-factor sign-in" in page.get_data(as_text=True)
    confirm = signed_in.post("/account/two-factor/confirm", {"code": "123456"})
    assert confirm.status_code == 200 and "it has started again" in confirm.get_data(as_text=True)
    secret = re.search(r'class="totp-secret"[^>]*>([A-Z2-7]+)<', confirm.get_data(as_text=True)).group(1)
    assert opens_under(app, ("another key",), stored_secret(signed_in.user)) == secret
    assert signed_in.post("/account/two-factor/confirm", {"code": pyotp.TOTP(secret).now()}).status_code == 200
    assert two_factor.is_enabled(signed_in.user.id)


@pytest.mark.postgres
def test_cli_encrypts_plain_secrets_and_moves_old_key_ones_to_the_current_key(app):
    plain, old, current, lost = (make_user() for _ in range(4))
    secrets = {person.id: pyotp.random_base32() for person in (plain, old, current, lost)}
    with_method(plain, secrets[plain.id])
    app.config["TOTP_ENCRYPTION_KEYS"] = ("old key",)
    with_method(old, totp_secrets.seal(secrets[old.id]))
    app.config["TOTP_ENCRYPTION_KEYS"] = ("lost key",)
    with_method(lost, totp_secrets.seal(secrets[lost.id]))
    lost_stored = stored_secret(lost)
    app.config["TOTP_ENCRYPTION_KEYS"] = ("new key", "old key")
    with_method(current, totp_secrets.seal(secrets[current.id]))
    current_stored = stored_secret(current)

    result = app.test_cli_runner().invoke(args=["users", "encrypt-totp-secrets"])
    assert result.exit_code == 1  # scripts notice the secret no key opens
    assert "Encrypted 1 plain-text secret(s); re-encrypted 1 under the current key; 1 already current" in result.output
    assert lost.email in result.output and "STUDIO_TOTP_ENCRYPTION_KEYS" in result.output
    for person in (plain, old, current):
        assert opens_under(app, ("new key",), stored_secret(person)) == secrets[person.id]
    assert stored_secret(current) == current_stored and stored_secret(lost) == lost_stored

    again = app.test_cli_runner().invoke(args=["users", "encrypt-totp-secrets"])
    assert "Encrypted 0 plain-text secret(s); re-encrypted 0 under the current key; 3 already current" in again.output


def test_stored_values_are_told_apart_by_their_prefix(app):
    sealed = totp_secrets.seal("JBSWY3DPEHPK3PXP")
    assert sealed.startswith("v1:") and totp_secrets.open_secret(sealed).is_current
    assert totp_secrets.open_secret("JBSWY3DPEHPK3PXP") == totp_secrets.Opened("JBSWY3DPEHPK3PXP", is_current=False)
    for damaged in ("v1:not-a-token", "v2:" + sealed[3:], "jbswy3dp", ""):
        with pytest.raises(totp_secrets.SecretUnreadable):
            totp_secrets.open_secret(damaged)
