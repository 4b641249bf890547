"""Main pages in light and dark, desktop and phone: nothing overflows sideways, and a screenshot
of each is written to test-artifacts/screenshots/ for a person to look at."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories import make_user
from tests.helpers.browser import VIEWPORTS, assert_looks_right, sign_in

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_main_pages_fit_and_are_captured(browser, signed_in_page, live_server, viewport, scheme):
    SHOTS.mkdir(parents=True, exist_ok=True)
    admin = make_user(role="admin", display_name="Ada Admin", email="ada@example.org")
    make_user(display_name="Grace <img src=x onerror=alert(1)>")

    context = browser.new_context(viewport=VIEWPORTS[viewport], color_scheme=scheme)
    page = context.new_page()
    sign_in(page, live_server, "wrong@example.org", "nope")
    page.get_by_role("alert").wait_for()  # the answer page has loaded
    assert_looks_right(page)
    page.screenshot(path=SHOTS / f"login-{viewport}-{scheme}.png", full_page=True)
    context.close()

    page = signed_in_page(user=admin, viewport=viewport, color_scheme=scheme)
    pages = [("account", "/account"), ("admin-navigation", "/admin/navigation"), ("admin-users", "/admin/users")]
    for name, path in pages:
        page.goto(f"{live_server}{path}")
        assert_looks_right(page)
        page.screenshot(path=SHOTS / f"{name}-{viewport}-{scheme}.png", full_page=True)
    if viewport == "phone":
        page.get_by_text("Menu", exact=True).click()
        page.screenshot(path=SHOTS / f"menu-open-{viewport}-{scheme}.png")


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_chat_fits_and_is_captured(signed_in_page, live_server, viewport, scheme):
    """A conversation with code, a table, a failed answer and the options panel open."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    user = make_user(display_name="Chatty")
    page = signed_in_page(user=user, viewport=viewport, color_scheme=scheme)
    messages = [("Show me code and a table, please", "is-complete"), ("This one will [[echo:fail]]", "is-failed")]
    for text, state in messages:
        page.get_by_label("Message", exact=True).fill(text)
        page.get_by_role("button", name="Send").click()
        page.locator(f".message-assistant.{state}").last.wait_for(timeout=15000)
    page.get_by_text("Options", exact=True).click()
    page.get_by_label("Temperature").fill("5")
    page.get_by_label("Message", exact=True).fill("Too hot")
    page.get_by_role("button", name="Send").click()
    page.get_by_text("Temperature goes from 0 to 2.").wait_for()
    assert_looks_right(page)
    page.screenshot(path=SHOTS / f"chat-{viewport}-{scheme}.png")
    page.locator("#messages").evaluate("box => { box.scrollTop = 0 }")
    page.screenshot(path=SHOTS / f"chat-top-{viewport}-{scheme}.png", full_page=viewport == "desktop")
