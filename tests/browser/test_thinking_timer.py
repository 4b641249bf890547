"""A person asks a model that thinks before it writes: "thinking… 0:03" counts while nothing has
arrived, and the answer replaces it."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.extensions import db
from tests.factories import make_model
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.browser


def test_the_thinking_timer_counts_while_the_model_thinks_and_the_answer_replaces_it(signed_in_page, live_server):
    with FakeOpenAIServer() as fake:
        fake.scenario.first_token_delay = 3.5
        fake.scenario.text = "Forty-two, after some thought."
        model = make_model("Slow Thinker", provider="openai", base_url=fake.base_url)
        db.session.commit()
        page = signed_in_page()
        page.goto(f"{live_server}/chat")
        page.get_by_label("Model").select_option(str(model.id))
        page.get_by_label("Message", exact=True).fill("What is the answer?")
        page.get_by_role("button", name="Send").click()
        answer = page.locator(".message-assistant").last
        timer = answer.get_by_text(re.compile(r"thinking… 0:0[1-9]"))
        expect(timer).to_be_visible(timeout=10000)
        expect(answer.get_by_text("Forty-two, after some thought.")).to_be_visible(timeout=15000)
        expect(page.locator(".message-assistant.is-complete").last).to_be_visible(timeout=10000)
        expect(answer.get_by_text(re.compile("thinking…"))).to_have_count(0)
