"""Argon2 parameters come from the configuration: production keeps its cost, the tests hash cheaply,
and a hash made with other parameters still verifies."""
from __future__ import annotations

from argon2 import PasswordHasher

from app import create_app
from app.auth import services
from app.extensions import db
from tests.conftest import csrf_token_of
from tests.factories import PASSWORD, make_user

PRODUCTION_PREFIX = "$argon2id$v=19$m=65536,t=3,p=4$"  # 64 MiB, three passes, four lanes


def test_an_app_built_without_overrides_hashes_with_the_production_parameters():
    app = create_app()
    with app.app_context():
        assert services.hash_password("a password").startswith(PRODUCTION_PREFIX)
    assert app.config["MAX_CONCURRENT_HASHES"] == 4


def test_the_test_suite_hashes_cheaply_factories_included(app):
    user = make_user()
    assert user.hashed_password.startswith("$argon2id$v=19$m=8,t=1,p=1$")


def test_a_password_hashed_with_other_parameters_still_signs_in(app, client):
    user = make_user()
    user.hashed_password = PasswordHasher().hash(PASSWORD)  # made by production settings
    db.session.commit()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD,
                                           "csrf_token": csrf_token_of(client)})
    assert response.status_code == 303
    db.session.refresh(user)
    assert user.hashed_password.startswith("$argon2id$v=19$m=8,t=1,p=1$")  # upgraded to the configured ones
