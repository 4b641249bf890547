"""The 2FA enrolment and API keys pages, clicked through in Chromium (screenshots for review)."""
from __future__ import annotations

import os
import re

import pyotp
import pytest

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("STUDIO_SCREENSHOTS", "/tmp/shots")


def test_enrolment_shows_a_qr_code_and_the_secret_then_recovery_codes(signed_in_page, live_server):
    page = signed_in_page("user")
    page.goto(f"{live_server}/account/two-factor")
    page.get_by_role("button", name="Set up two-factor sign-in").click()
    page.locator(".qr-code svg").wait_for()
    page.screenshot(path=f"{SHOTS}/two_factor_enrolment.png", full_page=True)
    secret = page.get_by_label("Secret key").inner_text()
    page.get_by_label(re.compile("Code from your authenticator")).fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm and turn on").click()
    assert page.get_by_role("list", name="Recovery codes").locator("li").count() == 10
    page.screenshot(path=f"{SHOTS}/two_factor_recovery_codes.png", full_page=True)


def test_api_key_is_shown_once_and_listed_by_prefix(signed_in_page, live_server):
    page = signed_in_page("user")
    page.goto(f"{live_server}/account/api-keys")
    page.get_by_label("Name").fill("laptop script")
    page.get_by_role("button", name="Create key").click()
    key = page.get_by_label("New API key").inner_text()
    assert key.startswith("studio_")
    page.screenshot(path=f"{SHOTS}/api_keys_created.png", full_page=True)
    page.goto(f"{live_server}/account/api-keys")
    assert key not in page.content() and key[:15] in page.content()
