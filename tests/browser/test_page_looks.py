"""Main pages in light and dark, desktop and phone: nothing overflows sideways, and a screenshot
of each is written to test-artifacts/screenshots/ for a person to look at."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def signed_in_context(browser, base_url, email, viewport, scheme):
    context = browser.new_context(viewport=VIEWPORTS[viewport], color_scheme=scheme)
    page = context.new_page()
    page.goto(f"{base_url}/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)
    return context, page


def assert_fits_width(page):
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, f"page scrolls sideways by {overflow}px"


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_main_pages_fit_and_are_captured(browser, live_server, viewport, scheme, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("screenshots once, on SQLite")
    SHOTS.mkdir(parents=True, exist_ok=True)
    admin = make_user(role="admin", display_name="Ada Admin", email="ada@example.org")
    make_user(display_name="Grace <img src=x onerror=alert(1)>")

    context = browser.new_context(viewport=VIEWPORTS[viewport], color_scheme=scheme)
    page = context.new_page()
    page.goto(f"{live_server}/login")
    page.get_by_label("E-mail").fill("wrong@example.org")
    page.get_by_label("Password").fill("nope")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("alert").wait_for()  # the answer page has loaded
    assert_fits_width(page)
    page.screenshot(path=SHOTS / f"login-{viewport}-{scheme}.png", full_page=True)
    context.close()

    context, page = signed_in_context(browser, live_server, admin.email, viewport, scheme)
    for name, path in [("account", "/account"), ("admin-navigation", "/admin/navigation"), ("admin-users", "/admin/users")]:
        page.goto(f"{live_server}{path}")
        assert_fits_width(page)
        page.screenshot(path=SHOTS / f"{name}-{viewport}-{scheme}.png", full_page=True)
    if viewport == "phone":
        page.get_by_text("Menu", exact=True).click()
        page.screenshot(path=SHOTS / f"menu-open-{viewport}-{scheme}.png")
    context.close()


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_chat_fits_and_is_captured(browser, live_server, viewport, scheme, database_url):
    """A conversation with code, a table, a failed answer and the options panel open."""
    if not database_url.startswith("sqlite"):
        pytest.skip("screenshots once, on SQLite")
    SHOTS.mkdir(parents=True, exist_ok=True)
    user = make_user(display_name="Chatty")
    context, page = signed_in_context(browser, live_server, user.email, viewport, scheme)
    for text, state in [("Show me code and a table, please", "is-complete"), ("This one will [[echo:fail]]", "is-failed")]:
        page.get_by_label("Message", exact=True).fill(text)
        page.get_by_role("button", name="Send").click()
        page.locator(f".message-assistant.{state}").last.wait_for(timeout=15000)
    page.get_by_text("Options", exact=True).click()
    page.get_by_label("Temperature").fill("5")
    page.get_by_label("Message", exact=True).fill("Too hot")
    page.get_by_role("button", name="Send").click()
    page.get_by_text("Temperature goes from 0 to 2.").wait_for()
    assert_fits_width(page)
    page.screenshot(path=SHOTS / f"chat-{viewport}-{scheme}.png")
    page.locator("#messages").evaluate("box => { box.scrollTop = 0 }")
    page.screenshot(path=SHOTS / f"chat-top-{viewport}-{scheme}.png", full_page=viewport == "desktop")
    context.close()
