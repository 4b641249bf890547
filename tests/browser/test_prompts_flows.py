"""The prompt library in Chromium: an author writes a public prompt with two variables and tags, a
moderator approves it in another browser, a third person finds it by tag, uses it, and lands in a
new chat with the filled text."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.prompts.models import Prompt
from app.prompts.services import filled_text_for_use
from tests.factories import make_user
from tests.prompts.factories import make_prompt

pytestmark = pytest.mark.browser


def test_write_approve_find_by_tag_and_use_a_prompt(signed_in_page, live_server):
    author, moderator, reader = make_user(display_name="Ann Author"), make_user(role="moderator"), make_user()

    # The author writes a public prompt with two variables and two tags.
    page = signed_in_page(user=author)
    page.goto(f"{live_server}/prompts")
    page.get_by_role("link", name="New prompt").click()
    page.get_by_label("Title").fill("Launch note")
    page.get_by_label("Description (optional)").fill("A short note announcing something new.")
    page.get_by_label("Prompt text").fill("Write a {{ tone = friendly }} note to {{ name }} about our launch.")
    page.get_by_label("Tags (optional)").fill("Announcements, email")
    page.get_by_label("Everyone, once a moderator approves it").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Launch note")).to_be_visible()
    expect(page.get_by_text("Waiting for review.")).to_be_visible()
    expect(page.locator(".variable-list")).to_contain_text("tone")
    expect(page.locator(".variable-list")).to_contain_text("default “friendly”")

    # A moderator, in another browser, approves it.
    moderator_page = signed_in_page(user=moderator)
    moderator_page.goto(f"{live_server}/moderation/prompts")
    item = moderator_page.get_by_role("article", name="Launch note")
    expect(item).to_contain_text("by Ann Author")
    item.get_by_role("button", name="Approve").click()
    expect(moderator_page.locator(".toast").filter(has_text="Approved “Launch note”.")).to_be_visible()
    expect(item.get_by_text("Public")).to_be_visible()

    # A third person finds it by tag in the public library and uses it.
    reader_page = signed_in_page(user=reader)
    reader_page.goto(f"{live_server}/prompts")
    reader_page.get_by_role("link", name="Public").click()
    results = reader_page.locator("#prompt-results")
    expect(results.get_by_role("link", name="Launch note")).to_be_visible()
    tags = reader_page.get_by_label("Tags", exact=True)
    tags.fill("announcements")
    tags.press("Enter")
    expect(results.get_by_text("Tagged")).to_be_visible()
    expect(reader_page).to_have_url(re.compile(r".*/prompts\?.*tags=announcements"))
    results.get_by_role("link", name="Launch note").click()
    expect(reader_page.get_by_role("heading", name="Launch note")).to_be_visible()
    reader_page.get_by_role("link", name="Use").click()
    expect(reader_page.get_by_label("tone")).to_have_value("friendly")
    reader_page.get_by_label("name").fill("Ada")
    reader_page.get_by_role("button", name="Open in a new chat").click()
    expect(reader_page).to_have_url(re.compile(r".*/chat\?prompt_use=[0-9a-f-]{36}$"))
    event_id = reader_page.url.rsplit("=", 1)[1]
    assert filled_text_for_use(reader, event_id) == "Write a friendly note to Ada about our launch."
    # The chat opens with the composer filled, ready to send.
    expect(reader_page.get_by_label("Message", exact=True)).to_have_value(
        "Write a friendly note to Ada about our launch.")

    db.session.expire_all()
    prompt = db.session.scalar(select(Prompt))
    assert (prompt.moderation_status, prompt.use_count, prompt.view_count) == ("approved", 1, 1)


def test_tag_autocomplete_and_a_refused_variable_name(signed_in_page, live_server):
    person = make_user()
    make_prompt(person, tags=("writing", "wrestling"))
    page = signed_in_page(user=person)
    page.goto(f"{live_server}/prompts/new")
    tags = page.get_by_label("Tags (optional)")
    tags.click()
    tags.press_sequentially("email, wri")
    expect(page.locator("#tag-options option[value='email, writing']")).to_have_count(1)
    page.get_by_label("Title").fill("Spaces")
    page.get_by_label("Prompt text").fill("Hello {{ first name }}")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Variable names cannot contain spaces")).to_be_visible()
    expect(page.get_by_label("Prompt text")).to_have_value("Hello {{ first name }}")
    expect(page.get_by_label("Tags (optional)")).to_have_value("email, wri")


def test_delete_asks_first_then_the_prompt_is_gone(signed_in_page, live_server):
    person = make_user()
    prompt = make_prompt(person, title="Short-lived")
    page = signed_in_page(user=person)
    page.goto(f"{live_server}/prompts/{prompt.id}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    expect(page).to_have_url(re.compile(r".*/prompts$"))
    expect(page.locator(".toast").filter(has_text="Prompt deleted.")).to_be_visible()
    expect(page.get_by_role("link", name="Short-lived")).to_have_count(0)


def test_the_library_filters_as_you_type_and_sorts(signed_in_page, live_server):
    person = make_user()
    make_prompt(person, title="Haiku helper", use_count=1)
    make_prompt(person, title="Limerick helper", use_count=5)
    make_prompt(person, title="Sonnet outline", use_count=3)
    page = signed_in_page(user=person)
    page.goto(f"{live_server}/prompts")
    results = page.locator("#prompt-results")
    page.get_by_label("Search").press_sequentially("helper")
    expect(results.get_by_role("link", name="Sonnet outline")).to_have_count(0)
    expect(results.locator(".prompt-card")).to_have_count(2)
    expect(page).to_have_url(re.compile(r".*/prompts\?.*q=helper"))
    page.get_by_label("Sort by").select_option("popular")
    expect(results.locator(".prompt-card-title").first).to_have_text("Limerick helper")
    page.reload()  # the URL holds the filters: a reload shows the same list
    expect(page.get_by_label("Search")).to_have_value("helper")
    expect(results.locator(".prompt-card-title").first).to_have_text("Limerick helper")
