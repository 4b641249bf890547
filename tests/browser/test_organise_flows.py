"""Folders, sharing and search in Chromium: drag into a folder, share and visit as a stranger,
revoke, search and open a result; with screenshots of each for review."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.folders.models import Folder
from tests.factories import make_conversation, make_user
from tests.helpers.browser import assert_looks_right

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def test_drag_a_conversation_into_a_folder(signed_in_page):
    user = make_user()
    work = Folder(user_id=user.id, name="Work", color="blue", icon="briefcase", sort_order=10)
    db.session.add(work)
    db.session.commit()
    db.session.add(Folder(user_id=user.id, name="Reports", parent_id=work.id, color="green", icon="book"))
    db.session.commit()
    make_conversation(user, title="Quarterly numbers", messages=2)
    page = signed_in_page(user=user)
    sidebar = page.get_by_role("complementary", name="Conversations")
    recent = sidebar.get_by_role("list", name="Recent conversations")
    item = recent.get_by_role("listitem").filter(has_text="Quarterly numbers")
    item.drag_to(sidebar.locator(".folder-summary").filter(has_text="Reports"))
    expect(page.locator(".toast").filter(has_text="Moved to “Reports”.")).to_be_visible()
    in_reports = sidebar.get_by_role("list", name="Conversations in Reports")
    expect(in_reports.get_by_role("link", name="Quarterly numbers")).to_be_visible()
    expect(recent.get_by_role("link", name="Quarterly numbers")).to_have_count(0)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "sidebar-folders-desktop-light.png")


def test_a_folder_remembers_being_closed(signed_in_page, live_server):
    user = make_user()
    work = Folder(user_id=user.id, name="Work", color="blue", icon="briefcase", is_expanded=True)
    db.session.add(work)
    db.session.commit()
    page = signed_in_page(user=user)
    folder = page.locator(f"#folder-{work.id} > details.folder")
    expect(folder).to_have_attribute("open", "")
    with page.expect_response(lambda response: response.url.endswith(f"/folders/{work.id}/expanded")) as posted:
        folder.locator(".folder-name").click()
    assert posted.value.status == 204
    page.reload()
    expect(folder).not_to_have_attribute("open", "")
    with page.expect_response(lambda response: response.url.endswith(f"/folders/{work.id}/expanded")):
        folder.locator(".folder-name").click()
    page.reload()
    expect(folder).to_have_attribute("open", "")


def test_share_visit_as_a_stranger_then_revoke(signed_in_page, browser, live_server):
    user = make_user(email="owner-private@example.org")
    conversation = make_conversation(user, title="Soup recipe", messages=4)
    page = signed_in_page(user=user)
    page.goto(f"{live_server}/chat/{conversation.id}")
    page.locator(".conversation-menu > summary").click()  # the actions menu, then the share dialog
    page.get_by_role("button", name="Share", exact=True).click()
    page.get_by_label("Link expires").select_option("30d")
    page.get_by_role("button", name="Create link").click()
    expect(page.locator(".toast").filter(has_text="Share link created")).to_be_visible()
    link = page.get_by_label("Share link").first.input_value()
    assert re.fullmatch(rf"{re.escape(live_server)}/s/[A-Za-z0-9_-]{{32}}", link)
    page.screenshot(path=SHOTS / "share-dialog-desktop-light.png")

    for viewport, scheme in [({"width": 1280, "height": 800}, "light"), ({"width": 390, "height": 844}, "dark")]:
        stranger = browser.new_context(viewport=viewport, color_scheme=scheme)
        visitor = stranger.new_page()
        response = visitor.goto(link)
        assert response.status == 200 and response.headers["x-robots-tag"].startswith("noindex")
        expect(visitor.get_by_role("heading", name="Soup recipe")).to_be_visible()
        expect(visitor.get_by_text("Message 3 from the assistant")).to_be_visible()
        assert "owner-private@example.org" not in visitor.content()
        expect(visitor.get_by_role("textbox")).to_have_count(0)  # no composer
        width = "desktop" if viewport["width"] > 800 else "phone"
        visitor.screenshot(path=SHOTS / f"shared-visitor-{width}-{scheme}.png", full_page=True)
        assert_looks_right(visitor)
        stranger.close()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator(".toast").filter(has_text="Link revoked.")).to_be_visible()
    stranger = browser.new_context()
    response = stranger.new_page().goto(link)
    assert response.status == 404
    stranger.close()


def test_search_and_open_a_result(signed_in_page, live_server):
    user = make_user()
    conversation = make_conversation(user, title="Garden", messages=70)
    from app.chat.models import Message

    target = Message(conversation_id=conversation.id, user_id=user.id, role="user",
                     content="When should I plant tulips?")
    db.session.add(target)
    db.session.commit()
    for n in range(40):
        db.session.add(Message(conversation_id=conversation.id, user_id=user.id, role="user", content=f"later {n}"))
    db.session.commit()
    page = signed_in_page(user=user)
    page.goto(f"{live_server}/chat/search")
    page.get_by_label("Words to find in titles and messages").fill("tulip")
    hit = page.locator(".search-hit").first
    expect(hit.locator("mark")).to_have_text("tulips")
    page.screenshot(path=SHOTS / "search-results-desktop-light.png")
    hit.get_by_role("link").click()
    expect(page.locator(".message.is-target")).to_contain_text("When should I plant tulips?")
    expect(page.locator(".message.is-target")).to_be_in_viewport()
