"""A person chats with the demo model in Chromium: streaming, stop, reload mid-answer, rename, pin,
and a sidebar that loads more as it scrolls."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.factories import make_conversation, make_user

pytestmark = pytest.mark.browser


def send(page, text):
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_role("button", name="Send").click()


def test_send_watch_it_stream_then_stop_one(signed_in_page):
    page = signed_in_page()
    send(page, "Hello demo, show me a table")
    expect(page).to_have_url(re.compile(r".*/chat/[0-9a-f-]{36}$"))
    answer = page.locator(".message-assistant").last
    expect(answer.locator("table")).to_be_visible(timeout=15000)  # rendered Markdown after streaming
    expect(answer.get_by_text("You said: Hello demo, show me a table")).to_be_visible()
    expect(page.locator(".message-details").last).to_contain_text(" out · $")
    expect(page.locator("#conversation-totals")).to_contain_text("2 messages")
    # The title comes from the first message, in the header and (refreshed) in the sidebar.
    expect(page.get_by_role("heading", name="Hello demo, show me a table")).to_be_visible()
    sidebar = page.get_by_role("complementary", name="Conversations")
    expect(sidebar.get_by_role("link", name="Hello demo, show me a table")).to_be_visible()

    send(page, "[[echo:slow]] a long one please")
    streaming = page.locator(".message-assistant.is-streaming")
    expect(streaming.locator(".streaming-text")).to_contain_text("You said:", timeout=10000)
    expect(page.get_by_label("Message", exact=True)).to_have_value("")  # a fresh composer
    streaming.get_by_role("button", name="Stop").click()
    stopped = page.locator(".message-assistant.is-stopped")
    expect(stopped).to_be_visible(timeout=10000)
    expect(stopped.get_by_text("Stopped. The text so far is kept.")).to_be_visible()
    assert "word119" not in stopped.inner_text()


def test_reload_mid_answer_continues_live(signed_in_page):
    page = signed_in_page()
    send(page, "[[echo:slow]] keep going after a reload")
    expect(page.locator(".message-assistant .streaming-text")).to_contain_text("You said:", timeout=10000)
    page.reload()
    text = page.locator(".message-assistant .streaming-text")
    expect(text).to_contain_text("keep going after a reload")  # the text so far, from the server
    done = page.locator(".message-assistant.is-complete")
    expect(done).to_be_visible(timeout=20000)
    body = done.locator(".message-body").inner_text()
    assert body.count("You said:") == 1 and body.rstrip().endswith("word119")


def test_rename_and_pin_a_conversation(signed_in_page, live_server):
    user = make_user()
    make_conversation(user, title="Older topic", messages=2)
    conversation = make_conversation(user, title="Trip planning", messages=2)
    page = signed_in_page(user=user)
    page.goto(f"{live_server}/chat/{conversation.id}")
    page.locator(".conversation-menu > summary").click()  # the actions menu
    page.get_by_role("button", name="Rename").click()
    page.get_by_label("Title").fill("Lisbon in May")
    page.get_by_role("button", name="Save title").click()
    expect(page.get_by_role("heading", name="Lisbon in May")).to_be_visible()
    expect(page.locator(".toast").filter(has_text="Renamed.")).to_be_visible()
    sidebar = page.get_by_role("complementary", name="Conversations")
    expect(sidebar.get_by_role("link", name="Lisbon in May")).to_be_visible()

    page.locator(".conversation-menu > summary").click()
    page.locator(".conversation-menu-panel").get_by_role("button", name="Pin").click()
    pinned = page.get_by_role("list", name="Pinned conversations")
    expect(pinned.get_by_role("link", name="Pinned: Lisbon in May")).to_be_visible()
    recent = page.get_by_role("list", name="Recent conversations")
    expect(recent.get_by_role("link", name="Older topic")).to_be_visible()


def test_sidebar_loads_more_when_scrolled(signed_in_page):
    user = make_user()
    for number in range(45):
        make_conversation(user, title=f"Topic {number:02d}")
    page = signed_in_page(user=user)
    recent = page.get_by_role("list", name="Recent conversations")
    expect(recent.get_by_role("link", name="Topic 44")).to_be_visible()
    expect(recent.locator("li.conversation-item")).to_have_count(30)
    assert page.locator(".sidebar-more").count() == 1  # the next page waits below the fold
    recent.get_by_role("link", name="Topic 15").scroll_into_view_if_needed()
    expect(recent.get_by_role("link", name="Topic 00")).to_be_attached(timeout=10000)
    expect(recent.locator("li.conversation-item")).to_have_count(45)


def test_sending_moves_the_conversation_to_the_top_of_the_sidebar(signed_in_page, live_server):
    user = make_user()
    older = make_conversation(user, title="Older topic", messages=2)
    make_conversation(user, title="Newer topic", messages=2)
    page = signed_in_page(user=user)
    page.goto(f"{live_server}/chat/{older.id}")
    recent = page.get_by_role("list", name="Recent conversations")
    expect(recent.locator(".conversation-link").first).to_have_text("Newer topic")
    send(page, "Back to this one")
    expect(page.locator(".message-assistant.is-complete").last).to_contain_text("Back to this one", timeout=15000)
    expect(recent.locator(".conversation-link").first).to_have_text("Older topic")  # moved, not copied
    expect(recent.get_by_role("link", name="Older topic")).to_have_count(1)
    expect(recent.locator(".conversation-item.is-current")).to_have_count(1)
    expect(recent.locator(".conversation-link").nth(1)).to_have_text("Newer topic")
