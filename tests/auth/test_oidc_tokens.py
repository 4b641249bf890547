"""ID tokens a real provider would not send, written by the test and served by a fake issuer: each is
refused with a message on /login and an auth event, and nobody is signed in."""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from joserfc.jwk import OctKey, RSAKey
from sqlalchemy import func, select

from app.auth.models import AuthEvent, User, UserSession
from app.extensions import db
from tests.conftest import csrf_token_of
from tests.fakes.oidc.fake_issuer import FakeIssuer

OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "fake-key"}, private=True)
SHARED_SECRET = OctKey.import_key("a shared secret of 32 bytes or more")


@pytest.fixture(scope="module")
def issuer():
    with FakeIssuer() as fake:
        yield fake


@pytest.fixture
def fake(app, issuer):
    app.config.update(issuer.settings())
    issuer.next_id_token, issuer.token_requests[:] = None, []
    return issuer


def begin(client) -> dict[str, str]:
    """Press the button; returns the authorization request's parameters (state, nonce, ...)."""
    response = client.get("/login/oidc")
    assert response.status_code == 302
    return {name: values[0] for name, values in parse_qs(urlparse(response.headers["Location"]).query).items()}


def come_back(client, state: str):
    return client.get(f"/login/oidc/callback?code=the-code&state={state}")


def last_event() -> AuthEvent:
    return db.session.scalar(select(AuthEvent).where(AuthEvent.event_type == "sso_login")
                             .order_by(AuthEvent.created_at.desc()).limit(1))


def test_a_well_formed_token_signs_in_and_the_code_is_traded_with_the_pkce_verifier(app, client, fake):
    request = begin(client)
    fake.next_id_token = fake.id_token(request["nonce"], name="<b>Fay</b>")
    answer = come_back(client, request["state"])
    assert answer.status_code == 303 and answer.headers["Location"] == "/"
    [trade] = fake.token_requests
    assert trade["code"] == "the-code" and trade["grant_type"] == "authorization_code"
    assert 43 <= len(trade["code_verifier"]) <= 128 and trade["redirect_uri"].endswith("/login/oidc/callback")
    page = client.get("/account").get_data(as_text=True)
    assert "Signed in as fay@example.org" in page
    assert "&lt;b&gt;Fay&lt;/b&gt;" in page and "<b>Fay</b>" not in page  # the provider's name, escaped


CASES = {
    "another audience": lambda fake, nonce: fake.id_token(nonce, aud="someone-else"),
    "another audience, Studio as azp": lambda fake, nonce: fake.id_token(nonce, aud="someone-else", azp="studio"),
    "another issuer": lambda fake, nonce: fake.id_token(nonce, iss="https://evil.example.org"),
    "a key the issuer does not have": lambda fake, nonce: fake.id_token(nonce, key=OTHER_KEY),
    "a shared-secret signature (HS256)": lambda fake, nonce: fake.id_token(
        nonce, key=SHARED_SECRET, header={"alg": "HS256", "kid": "fake-key"}),
    "expired": lambda fake, nonce: fake.id_token(nonce, iat=1_600_000_000, exp=1_600_000_300),
    "no nonce": lambda fake, nonce: fake.id_token(None),
    "another sign-in's nonce": lambda fake, nonce: fake.id_token("an-earlier-nonce"),
    "no subject": lambda fake, nonce: fake.id_token(nonce, sub=None),
    "no ID token at all": lambda fake, nonce: None,
}


@pytest.mark.parametrize("case", CASES)
def test_a_bad_id_token_is_refused(app, client, fake, case):
    request = begin(client)
    fake.next_id_token = CASES[case](fake, request["nonce"])
    answer = come_back(client, request["state"])
    assert answer.status_code == 303 and answer.headers["Location"] == "/login"
    page = client.get("/login").get_data(as_text=True)
    assert "Fake provider" in page and ("could not be verified" in page or "did not send an ID token" in page)
    assert client.get("/account").status_code == 302
    assert db.session.scalar(select(func.count(User.id))) == 0
    assert db.session.scalar(select(func.count(UserSession.id))) == 0
    event = last_event()
    assert not event.success and event.failure_reason in ("bad_token", "no_id_token")


def test_a_replayed_id_token_is_refused(app, client, fake):
    """The ID token of a finished sign-in, sent again for a new one: its nonce is spent."""
    first = begin(client)
    token = fake.id_token(first["nonce"])
    fake.next_id_token = token
    assert come_back(client, first["state"]).headers["Location"] == "/"
    client.post("/logout", data={"csrf_token": csrf_token_of(client, "/account")})
    second = begin(client)
    assert second["nonce"] != first["nonce"]
    assert come_back(client, second["state"]).headers["Location"] == "/login"  # the same token again
    assert last_event().failure_reason == "bad_token"
    assert db.session.scalar(select(func.count(UserSession.id))) == 1


def test_a_discovery_document_naming_another_issuer_is_refused(app, client, fake):
    fake.claimed_issuer = "https://evil.example.org"
    try:
        answer = client.get("/login/oidc")
    finally:
        fake.claimed_issuer = None
    assert answer.headers["Location"] == "/login"
    assert "discovery document names another issuer" in client.get("/login").get_data(as_text=True)
    assert last_event().failure_reason == "issuer_mismatch"


def test_an_answer_naming_another_issuer_is_refused(app, client, fake):
    """RFC 9207: the `iss` in the provider's answer must be the configured issuer (mix-up attacks)."""
    request = begin(client)
    fake.next_id_token = fake.id_token(request["nonce"])
    answer = client.get(f"/login/oidc/callback?code=c&state={request['state']}&iss=https://evil.example.org")
    assert answer.headers["Location"] == "/login" and fake.token_requests == []
    assert last_event().failure_reason == "wrong_issuer_in_response"
