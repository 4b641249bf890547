"""Headers every response carries: Permissions-Policy everywhere, HSTS only in production."""
from __future__ import annotations

from app import create_app
from tests.conftest import TEST_CONFIG
from tests.factories import make_conversation

FEATURES_TURNED_OFF = ("camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()", "interest-cohort=()")


def test_every_kind_of_page_turns_off_powerful_browser_features(client, login_as):
    person = login_as("user")
    conversation = make_conversation(person.user, messages=2)
    token = person.post(f"/chat/{conversation.id}/share", {"expiry": "7d"})
    responses = {
        "sign-in page": client.get("/login"),
        "chat page": person.get(f"/chat/{conversation.id}"),
        "htmx fragment": person.get("/chat/sidebar", headers={"HX-Request": "true"}),
        "not found": client.get("/no-such-page"),
        "static file": client.get("/static/css/app.css"),
        "redirect": client.get("/"),
        "form post": token,
    }
    for name, response in responses.items():
        policy = response.headers.get("Permissions-Policy", "")
        for feature in FEATURES_TURNED_OFF:
            assert feature in policy, f"{name} ({response.status_code}) lacks {feature}"


def test_production_tells_browsers_to_use_https_only():
    production = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": "sqlite://", "STUDIO_ENV": "production"})
    hsts = production.test_client().get("/login").headers["Strict-Transport-Security"]
    max_age = int(hsts.split("max-age=")[1].split(";")[0])
    assert max_age >= 365 * 24 * 3600 and "includeSubDomains" in hsts


def test_development_never_sends_hsts(client):
    # A development server speaks plain HTTP on localhost; HSTS there would lock the browser out.
    assert "Strict-Transport-Security" not in client.get("/login").headers
