"""A person submits an idea in Chromium, votes and takes the vote back, discusses it in a note; a
moderator triages it; the board's filters swap the results."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.factories import make_user
from tests.helpers.browser import sign_in
from tests.ideas.factories import make_idea

pytestmark = pytest.mark.browser


def test_submit_vote_unvote_note_then_a_moderator_triages(signed_in_page, live_server):
    page = signed_in_page(display_name="Ines Author")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Ideas").click()
    expect(page.get_by_role("heading", name="Ideas")).to_be_visible()
    expect(page.get_by_text("No ideas yet.")).to_be_visible()
    page.get_by_role("link", name="Submit an idea").click()

    # Empty description: the message shows and the title typed is kept.
    page.get_by_label("Title").fill("Keyboard shortcut to send")
    page.get_by_role("button", name="Submit idea").click()
    expect(page.get_by_text("Describe your idea")).to_be_visible()
    expect(page.get_by_label("Title")).to_have_value("Keyboard shortcut to send")
    page.get_by_label("Description").fill("Press **Ctrl+Enter** to send.\n\n<img src=x onerror=alert(1)>")
    page.get_by_label("Priority").select_option("high")
    page.get_by_role("button", name="Submit idea").click()

    expect(page).to_have_url(re.compile(r".*/ideas/[0-9a-f-]{36}$"))
    expect(page.get_by_role("heading", name="Keyboard shortcut to send")).to_be_visible()
    expect(page.locator(".toast").filter(has_text="Idea submitted.")).to_be_visible()
    expect(page.locator(".idea-description strong")).to_have_text("Ctrl+Enter")
    expect(page.locator(".idea-description")).to_contain_text("<img src=x onerror=alert(1)>")  # text, not an image
    expect(page.locator(".idea-description img")).to_have_count(0)

    vote = page.get_by_role("button", name=re.compile("^Vote for Keyboard shortcut to send"))
    expect(vote).to_have_attribute("aria-pressed", "false")
    vote.click()
    expect(vote).to_have_attribute("aria-pressed", "true")
    expect(vote).to_contain_text("1")
    expect(vote).to_be_focused()  # the swapped button keeps the keyboard focus
    vote.press("Enter")  # and the keyboard takes the vote back
    expect(vote).to_have_attribute("aria-pressed", "false")
    expect(vote).to_contain_text("0")

    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_text("Write a note first.")).to_be_visible()
    expect(page.get_by_label("Add a note")).to_be_focused()  # the field to fix
    page.get_by_label("Add a note").fill("Also **Cmd+Enter** on a Mac.")
    page.get_by_role("button", name="Add note").click()
    notes = page.locator("#notes-list .note")
    expect(notes).to_have_count(1)
    expect(notes.first.locator("strong").last).to_have_text("Cmd+Enter")
    expect(page.locator("#note-count")).to_have_text("1")
    expect(page.get_by_label("Add a note")).to_have_value("")
    expect(page.get_by_role("button", name="Add note")).to_be_focused()  # ready for the next one
    page.get_by_role("button", name="Sign out").click()

    moderator = make_user(role="moderator", display_name="Mo Derator")
    sign_in(page, live_server, moderator.email)  # the same browser, after signing out
    page.wait_for_url(lambda url: "/login" not in url)
    page.goto(f"{live_server}/ideas")
    page.get_by_role("link", name="Keyboard shortcut to send").click()
    page.get_by_label("Status").select_option("completed")
    page.get_by_role("button", name="Save triage").click()
    expect(page.locator(".toast").filter(has_text="Triage saved: completed, high priority.")).to_be_visible()
    expect(page.locator(".idea-head .idea-status")).to_have_text("Completed")
    expect(page.get_by_text(re.compile(r"Completed \d{4}-\d\d-\d\d \d\d:\d\d UTC by Mo Derator\."))).to_be_visible()
    expect(page.get_by_text("voting closed")).to_be_visible()

    # Moderators delete any note, after confirming.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete the note by Ines Author").click()
    expect(page.locator("#notes-list .note")).to_have_count(0)
    expect(page.locator("#note-count")).to_have_text("0")
    expect(page.get_by_text("No notes yet.")).to_be_visible()


def test_the_board_filters_and_searches_in_place(signed_in_page, live_server):
    person = make_user()
    voters = [make_user() for _ in range(2)]
    make_idea(person, title="Dark theme for code", status="planned", voters=voters)
    make_idea(person, title="Export as PDF", voters=voters[:1])
    make_idea(person, title="Shared folders", status="completed")
    page = signed_in_page(user=person)
    page.goto(f"{live_server}/ideas")
    cards = page.locator(".idea-card-title")
    expect(cards).to_have_text(["Dark theme for code", "Export as PDF", "Shared folders"])

    page.get_by_label("Status").select_option("planned")
    expect(cards).to_have_text(["Dark theme for code"])
    expect(page).to_have_url(re.compile(r"status=planned"))
    page.get_by_label("Status").select_option("")
    page.get_by_label("Search ideas").fill("pdf")
    expect(cards).to_have_text(["Export as PDF"])
    expect(page).to_have_url(re.compile(r"q=pdf"))

    # Voting from the board swaps only that card's button.
    page.get_by_label("Search ideas").fill("")
    expect(cards).to_have_count(3)
    vote = page.get_by_role("button", name=re.compile("^Vote for Export as PDF"))
    vote.click()
    expect(vote).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".idea-card").nth(1).locator(".vote-count")).to_have_text("2")
    page.reload()
    expect(vote).to_have_attribute("aria-pressed", "true")
