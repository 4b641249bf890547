"""An edited message in the browser: the new version reads as the conversation, the original stays
behind an "Edited · show previous version" disclosure. Screenshots go to test-artifacts/screenshots/."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories import make_conversation
from tests.helpers.browser import assert_looks_right

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.mark.parametrize("viewport, scheme", [("desktop", "light"), ("phone", "dark")])
def test_an_edited_message_shows_its_previous_version_on_request(signed_in_page, live_server, viewport, scheme):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = signed_in_page(viewport=viewport, color_scheme=scheme)
    conversation = make_conversation(page.user, messages=2, title="Trip planning")
    page.goto(f"{live_server}/chat/{conversation.id}")
    page.get_by_text("Edit", exact=True).click()
    page.get_by_label("Edit your message").fill("Plan a weekend in Lisbon, please")
    page.get_by_role("button", name="Save and resend").click()
    answer = page.get_by_role("article", name="Answer").last
    answer.get_by_text("You said: Plan a weekend in Lisbon, please").wait_for()
    answer.locator(".message-footer").wait_for()  # the answer has finished
    disclosure = page.get_by_text("Edited · show previous version")
    disclosure.click()
    previous = page.get_by_role("region", name="Version 1 of 2")
    assert "Message 0 from the user" in previous.inner_text()
    assert "Message 1 from the assistant" in previous.inner_text()
    assert_looks_right(page)
    page.screenshot(path=SHOTS / f"chat-edited-message-{viewport}-{scheme}.png", full_page=True)
