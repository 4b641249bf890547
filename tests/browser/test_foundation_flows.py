"""A person signs up, sees the navigation of their role, gets a toast from an htmx action, signs out."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import make_user
from tests.helpers.browser import sign_in

pytestmark = pytest.mark.browser


def test_sign_up_navigation_toast_and_sign_out(page, live_server):
    page.goto(f"{live_server}/register")
    page.get_by_label("E-mail").fill("founder@example.org")
    page.get_by_label("Display name").fill("Founder")
    page.get_by_label("Password", exact=True).fill("a long password")
    page.get_by_label("Repeat password").fill("a long password")
    page.get_by_role("button", name="Create account").click()

    # The first account is the admin: the admin menu is there.
    expect(page.get_by_text("Welcome to Studio, Founder.")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_text("Admin", exact=True)).to_be_visible()

    page.goto(f"{live_server}/account")
    page.get_by_label("Display name").fill("Founder <b>One</b>")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".toast").filter(has_text="Display name saved.")).to_be_visible()
    expect(page.get_by_role("link", name="Founder <b>One</b>")).to_be_visible()  # shown as text

    page.get_by_role("button", name="Sign out").first.click()
    expect(page.get_by_role("heading", name="Sign in to Studio")).to_be_visible()
    page.goto(f"{live_server}/account")
    expect(page).to_have_url(f"{live_server}/login?next=%2Faccount")


def test_user_sees_no_admin_navigation_and_gets_403_on_admin(signed_in_page, live_server):
    make_user(role="admin")
    page = signed_in_page(display_name="Plain User")
    expect(page.get_by_role("link", name="Plain User")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_text("Admin", exact=True)).to_have_count(0)
    response = page.goto(f"{live_server}/admin/users")
    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()


def test_admin_changes_a_role_inline_with_a_toast(signed_in_page, live_server):
    make_user(display_name="Future Moderator", email="future@example.org")
    page = signed_in_page("admin")
    page.goto(f"{live_server}/admin/users")
    page.get_by_label("Role of Future Moderator").select_option("moderator")
    expect(page.locator(".toast").filter(has_text="Future Moderator is now moderator.")).to_be_visible()
    page.reload()
    expect(page.get_by_label("Role of Future Moderator")).to_have_value("moderator")


def test_wrong_password_keeps_the_email_and_explains(page, live_server):
    user = make_user()
    sign_in(page, live_server, user.email, "not the password")
    expect(page.get_by_role("alert")).to_have_text("Email or password is incorrect.")
    expect(page.get_by_label("E-mail")).to_have_value(user.email)
