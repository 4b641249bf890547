"""The browser fixture every flow signs in with."""
from __future__ import annotations

import pytest

from tests.factories import make_user
from tests.helpers.browser import VIEWPORTS, sign_in


@pytest.fixture
def signed_in_page(browser, live_server):
    """signed_in_page("moderator") → a page in its own browser context, signed in as a new user of
    that role (or as `user=`), at a viewport ("desktop", "phone") and colour scheme; the user is
    `page.user`. Each call is another browser, so one test can have several people."""
    contexts = []

    def open_page(role: str = "user", *, user=None, viewport: str = "desktop", color_scheme: str = "light",
                  **user_fields):
        user = user or make_user(role=role, **user_fields)
        context = browser.new_context(viewport=VIEWPORTS[viewport], color_scheme=color_scheme)
        contexts.append(context)
        page = context.new_page()
        sign_in(page, live_server, user.email)
        page.wait_for_url(lambda url: "/login" not in url)
        page.user = user
        return page

    yield open_page
    for context in contexts:
        context.close()
