"""Checks over the whole app, so a new route or template cannot skip them."""
from __future__ import annotations

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
PUBLIC_ENDPOINTS = {"static", "auth.login", "auth.register", "core.healthz", "core.readyz", "core.index",
                    "sharing.shared",  # a share link is public by design: its token is the capability
                    "auth.forgot_password", "auth.reset_password",  # for people who cannot sign in
                    "auth.verify_email",  # the link in a confirmation mail works in any browser
                    "auth.oidc_start", "auth.oidc_callback",  # single sign-on (404 unless configured)
                    "organisations.accept_invite"}  # an invitation says what it invites to, then asks to sign in
SAMPLE_VALUES = {"uuid": "00000000-0000-7000-8000-000000000000", "int": "1"}


def concrete(rule) -> str:
    return re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>",
                  lambda m: SAMPLE_VALUES.get(m.group(1) or "", "x"), rule.rule)


def test_every_route_but_the_public_ones_requires_sign_in(app, client):
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            url = concrete(rule)
            response = client.get(url) if method == "GET" else client.post(url, data={})
            if rule.rule.startswith("/api/"):
                # The API signs in by key, not by session: no key is a 401 in OpenAI's shape, never a redirect.
                assert response.status_code == 401, (method, url, response.status_code)
                assert response.get_json()["error"]["code"] == "invalid_api_key"
                checked += 1
                continue
            # Signed out: sent to sign in, or refused (a POST without a CSRF token is refused first).
            assert response.status_code in (302, 400), (method, url, response.status_code)
            if response.status_code == 302:
                assert "/login" in response.headers["Location"]
            checked += 1
    assert checked > 30


def test_a_session_cookie_never_authorises_the_api(app, login_as):
    """Every /api/ route answers 401 to a signed-in browser sending no key (CSRF-exempt: a cookie must not count)."""
    signed_in = login_as("admin")
    api_rules = [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")]
    assert api_rules
    for rule in api_rules:
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            url = concrete(rule)
            response = signed_in.client.get(url) if method == "GET" else signed_in.client.post(url, json={})
            assert response.status_code == 401, (method, url, response.status_code)


def test_markup_is_marked_safe_only_for_sanitised_html():
    """`|safe` only on `content_html`, which render_markdown_safe() produced."""
    for template in TEMPLATES.rglob("*.html"):
        for line_number, line in enumerate(template.read_text().splitlines(), 1):
            for match in re.finditer(r"\{\{([^}]*)\|\s*safe", line):
                # content_html: render_markdown_safe(); *_html of search hits: search.highlight() (nh3, <mark> only)
                # enrolment.qr_svg: segno's SVG of our own otpauth URI (drawn on the server, no user text)
                assert re.search(r"content_html|hit\.(snippet|title)_html|enrolment\.qr_svg", match.group(1)), \
                    f"{template.name}:{line_number}: {line.strip()}"


def test_no_inline_script_or_event_handlers_in_templates():
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template.name
        assert not re.search(r"\son[a-z]+\s*=", text), template.name
        assert "hx-on" not in text, template.name
