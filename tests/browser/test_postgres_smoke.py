"""One flow on PostgreSQL under gunicorn, as Studio runs in production: a person signs up, sends a
message and reads the streamed answer. (The other browser tests run on SQLite only.)"""
from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import expect

from tests.helpers.servers import production_arguments, running_gunicorn

pytestmark = [pytest.mark.browser, pytest.mark.postgres(only=True)]


@pytest.fixture
def gunicorn_url(database_url):
    """Studio under gunicorn with README's production options, on the test's database."""
    with running_gunicorn(production_arguments(), {**os.environ, "DATABASE_URL": database_url}) as base_url:
        yield base_url


def test_sign_up_send_a_message_and_read_the_answer(page, gunicorn_url):
    page.goto(f"{gunicorn_url}/register")
    page.get_by_label("E-mail").fill("first@example.org")
    page.get_by_label("Display name").fill("First Person")
    page.get_by_label("Password", exact=True).fill("a long password")
    page.get_by_label("Repeat password").fill("a long password")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Welcome to Studio, First Person.")).to_be_visible()

    page.goto(f"{gunicorn_url}/chat")
    page.get_by_label("Message", exact=True).fill("Hello from PostgreSQL")
    page.get_by_role("button", name="Send").click()
    expect(page).to_have_url(re.compile(r".*/chat/[0-9a-f-]{36}$"))
    answer = page.locator(".message-assistant.is-complete").last
    expect(answer.get_by_text("You said: Hello from PostgreSQL")).to_be_visible(timeout=20000)
    page.reload()  # stored, not only streamed
    expect(page.locator(".message-assistant.is-complete").last).to_contain_text("You said: Hello from PostgreSQL")
