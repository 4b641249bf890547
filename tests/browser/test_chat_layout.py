"""The chat page gives the conversation the room (issue 17): the share of the main column that
shows message content, sampled down its middle, on a desktop and a phone, with the composer's
options closed and open; the header's actions reachable from one menu by keyboard alone."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from app.core.markdown import render_markdown_safe
from app.extensions import db
from tests.factories import make_conversation, make_user
from tests.helpers.browser import assert_looks_right

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
SHOT_TAG = os.environ.get("STUDIO_LAYOUT_SHOT_TAG", "after")  # "before" was taken once, on the old page

# Points every 4 px down the middle of the main column; a point counts when what is drawn there
# belongs to a message (not the header, a form, the composer or its options).
MESSAGE_SHARE_JS = """() => {
  const column = document.querySelector('.chat-main').getBoundingClientRect();
  const x = column.left + column.width / 2;
  let shown = 0, total = 0;
  for (let y = 2; y < window.innerHeight; y += 4) {
    total += 1;
    const el = document.elementFromPoint(x, y);
    if (el && el.closest('.message') && !el.closest('#composer, .conversation-header, .conversation-bar')) shown += 1;
  }
  return shown / total;
}"""

LONG_ANSWER = "\n\n".join(
    f"Paragraph {number}: a long answer that fills the screen, the way a real answer does when "
    "someone asks for an explanation with some detail, a few examples and a summary at the end."
    for number in range(1, 25))


def long_exchange(user):
    """A conversation with one question and one long answer."""
    from app.chat.models import Message
    conversation = make_conversation(user, messages=2, title="A long exchange about the layout of the chat page "
                                     "with a title far too long to fit on one line of the header")
    answer = db.session.scalars(db.select(Message).where(Message.conversation_id == conversation.id,
                                                         Message.role == "assistant")).one()
    answer.content = LONG_ANSWER
    answer.content_html = render_markdown_safe(LONG_ANSWER)
    db.session.commit()
    return conversation


def open_options(page):
    page.locator("#composer").get_by_text("Options", exact=True).click()
    expect(page.get_by_label("Temperature")).to_be_visible()


@pytest.mark.parametrize(("viewport", "closed_min", "open_min"), [("desktop", .60, .40), ("phone", .55, .35)])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_messages_get_most_of_the_main_column(signed_in_page, live_server, viewport, closed_min, open_min, scheme):
    SHOTS.mkdir(parents=True, exist_ok=True)
    user = make_user(display_name="Reader")
    conversation = long_exchange(user)
    page = signed_in_page(user=user, viewport=viewport, color_scheme=scheme)
    page.goto(f"{live_server}/chat/{conversation.id}")
    page.locator("#messages").evaluate("box => { box.scrollTop = box.scrollHeight / 3 }")
    page.wait_for_timeout(100)  # let the scroll paint before the shot
    closed = page.evaluate(MESSAGE_SHARE_JS)
    page.screenshot(path=SHOTS / f"chat-layout-{SHOT_TAG}-{viewport}-{scheme}.png")
    open_options(page)
    with_options = page.evaluate(MESSAGE_SHARE_JS)
    page.screenshot(path=SHOTS / f"chat-layout-options-{SHOT_TAG}-{viewport}-{scheme}.png")
    measured = f"messages get {closed:.0%} of the {viewport} main column, {with_options:.0%} with the options open"
    print(measured)
    assert closed >= closed_min and with_options >= open_min, measured
    assert_looks_right(page)


FOCUSED_NAME_JS = """() => { const el = document.activeElement;
  return el.id === 'move-folder' ? 'Move to folder' : (el.innerText || '').trim(); }"""


def test_every_header_action_is_in_the_menu_by_keyboard_alone(signed_in_page, live_server):
    user = make_user()
    conversation = make_conversation(user, title="Keyboard only", messages=2)
    page = signed_in_page(user=user)
    page.goto(f"{live_server}/chat/{conversation.id}")
    menu_button = page.locator(".conversation-menu > summary")
    menu_button.focus()
    page.keyboard.press("Enter")
    names = []
    for _ in range(12):
        page.keyboard.press("Tab")
        names.append(page.evaluate(FOCUSED_NAME_JS))
    for action in ["Rename", "Pin", "Archive", "Move to folder", "Share", "Model and system prompt",
                   "Export Markdown", "Export JSON", "Delete"]:
        assert action in names, f"{action} is not reachable by Tab from the menu: {names}"
    page.keyboard.press("Escape")
    expect(page.locator(".conversation-menu-panel")).to_be_hidden()
    expect(menu_button).to_be_focused()

    # Share opens as a dialog over the conversation, by keyboard.
    page.keyboard.press("Enter")
    while page.evaluate(FOCUSED_NAME_JS) != "Share":
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Share")
    expect(dialog.get_by_role("button", name="Create link")).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # Rename: the dialog shows the full title; the header shows the new one on one line.
    page.locator(".conversation-menu > summary").click()
    page.get_by_role("button", name="Rename").click()
    expect(page.get_by_label("Title")).to_have_value("Keyboard only")
    page.get_by_label("Title").fill("Renamed by keyboard")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Renamed by keyboard")).to_be_visible()
    expect(page.get_by_role("dialog", name="Rename the conversation")).to_be_hidden()


def test_title_filter_and_copy_button(signed_in_page, live_server):
    user = make_user()
    make_conversation(user, title="Lisbon trip", messages=2)
    conversation = make_conversation(user, title="Tax return", messages=2)
    page = signed_in_page(user=user)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(f"{live_server}/chat/{conversation.id}")
    page.get_by_label("Filter conversations").fill("lisb")
    matches = page.get_by_role("list", name="Conversations matching the filter")
    expect(matches.get_by_role("link", name="Lisbon trip")).to_be_visible()
    expect(matches.get_by_role("link", name="Tax return")).to_have_count(0)
    page.get_by_label("Filter conversations").fill("")
    expect(page.get_by_role("list", name="Recent conversations").get_by_role("link", name="Tax return")).to_be_visible()

    page.locator(".message-assistant").get_by_role("button", name="Copy the message").click()
    expect(page.locator(".toast").filter(has_text="Message copied.")).to_be_visible()
