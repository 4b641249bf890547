"""CSRF, security headers, error pages, size limits, health checks."""
from __future__ import annotations

import json

from tests.conftest import csrf_token_of
from tests.factories import make_user


def test_form_post_without_csrf_token_is_refused(login_as):
    person = login_as("user")
    response = person.client.post("/account/profile", data={"display_name": "Hijacked"})
    assert response.status_code == 400
    assert "Reload the page" in response.get_data(as_text=True)
    assert person.user.display_name != "Hijacked"


def test_htmx_post_without_csrf_header_is_refused_with_a_toast(login_as):
    person = login_as("user")
    response = person.client.post("/account/profile", data={"display_name": "Hijacked"}, headers={"HX-Request": "true"})
    assert response.status_code == 400
    toast = json.loads(response.headers["HX-Trigger"])["toast"]
    assert toast["level"] == "error" and "Reload the page" in toast["message"]


def test_htmx_post_with_csrf_header_is_accepted(login_as):
    person = login_as("user")
    response = person.post("/account/profile", {"display_name": "Via htmx"}, htmx=True)
    assert response.status_code == 200 and "Display name saved." in response.headers["HX-Trigger"]


def test_login_and_logout_need_csrf_too(client):
    user = make_user()
    assert client.post("/login", data={"email": user.email, "password": "x"}).status_code == 400


def test_security_headers_on_pages(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"
    assert "HX-Request" in response.headers["Vary"]


def test_pages_have_no_inline_script_and_configure_htmx_for_csp(client):
    html = client.get("/login").get_data(as_text=True)
    for chunk in html.split("<script")[1:]:
        assert chunk.lstrip().startswith("src="), "inline script found"
    assert '"allowEval":false' in html and '"allowScriptTags":false' in html
    assert '"includeIndicatorStyles":false' in html


def test_session_cookie_is_httponly_and_lax(client):
    user = make_user()
    response = client.post("/login", data={"email": user.email, "password": "correct horse battery",
                                           "csrf_token": csrf_token_of(client)})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_friendly_error_pages(login_as, client):
    not_found = client.get("/no/such/page")
    assert not_found.status_code == 404 and "Not found" in not_found.get_data(as_text=True)
    assert client.get("/logout").status_code == 405
    person = login_as("user")
    forbidden = person.get("/admin")
    assert forbidden.status_code == 403 and "Not allowed" in forbidden.get_data(as_text=True)


def test_oversized_request_is_refused_with_413(app, login_as):
    person = login_as("user")
    huge = "x" * (app.config["MAX_CONTENT_LENGTH"] + 10)
    response = person.post("/account/profile", {"display_name": huge})
    assert response.status_code == 413
    assert "larger than this server accepts" in response.get_data(as_text=True)


def test_garbage_posts_never_give_500(login_as):
    person = login_as("admin")
    for path in ["/account/profile", "/account/password", "/admin/navigation", "/admin/users/not-a-uuid/role",
                 "/admin/navigation/999999", "/admin/navigation/1/move", "/account/sessions/revoke-others"]:
        for body in [{}, {"display_name": "x" * 10_000}, {"role": ["a", "b"]}, {"direction": "sideways"}]:
            response = person.post(path, body)
            assert response.status_code < 500, (path, body)
        response = person.client.post(path, json={"a": 1}, headers={"X-CSRFToken": person.csrf_token})
        assert response.status_code < 500, path
    assert person.get("/healthz").status_code == 200


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ok", "database": "ok"}


def test_root_redirects_by_sign_in_state(login_as, client):
    assert client.get("/").headers["Location"].endswith("/login")
    assert login_as("user").get("/").status_code == 302
