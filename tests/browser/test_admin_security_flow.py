"""/admin/security clicked through (issue 15): an admin requires two-factor sign-in for a role by its
label, and sees the warning about their own account; screenshots in test-artifacts/screenshots/."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app.auth import two_factor
from tests.browser.test_page_looks import SHOTS
from tests.helpers.browser import assert_looks_right

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_admin_requires_two_factor_for_moderators_by_ticking_the_box(signed_in_page, live_server, scheme):
    page = signed_in_page("admin", color_scheme=scheme)
    page.goto(f"{live_server}/admin")
    page.get_by_role("link", name="Security Roles that must use two-factor sign-in").click()
    expect(page.get_by_text("You have not set up two-factor sign-in yourself")).to_be_visible()
    page.get_by_label("Require two-factor sign-in for moderators").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved: two-factor sign-in is required for moderators.")).to_be_visible()
    expect(page.get_by_label("Require two-factor sign-in for moderators")).to_be_checked()
    expect(page.get_by_label("Require two-factor sign-in for admins")).not_to_be_checked()
    assert two_factor.roles_requiring_two_factor() == {"moderator"}
    assert_looks_right(page)
    page.screenshot(path=str(SHOTS / f"admin-security-{scheme}.png"), full_page=True)
