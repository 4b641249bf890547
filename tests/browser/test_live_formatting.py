"""An answer is formatted while it streams (issue 21): finished blocks show as rendered HTML, not raw
Markdown, a reload shows the same formatted prefix, and the final answer reads exactly like the live one."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
# The demo's slow answer: "You said: …", a paragraph with **bold**, a Python fence, a table, then
# 119 words in one paragraph that is still being written while the rest is finished.
PROMPT = "[[echo:slow]] show me code and a table"

# Keeps what the streaming answer read just before the final message replaced it.
CAPTURE_LIVE_TEXT = """() => {
  window.__liveText = null;
  document.body.addEventListener("htmx:sseBeforeMessage", (event) => {
    if (event.detail.type !== "done" || window.__liveText !== null) return;
    const body = document.querySelector(".message-assistant.is-streaming .message-body");
    window.__liveText = body ? body.innerText : "";
  });
}"""


def words(text: str) -> str:
    return " ".join(text.split())


def send(page, text):
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_role("button", name="Send").click()


@pytest.fixture
def slow_demo(app):
    """The demo model writes slowly enough to look at the answer before it ends (about 8 s)."""
    app.config["ECHO_SLOW_DELAY_SECONDS"] = 0.12
    yield
    app.config["ECHO_SLOW_DELAY_SECONDS"] = 0.06


def test_a_streaming_answer_is_formatted_before_it_ends_and_the_end_changes_no_text(signed_in_page, slow_demo):
    page = signed_in_page()
    send(page, PROMPT)
    expect(page).to_have_url(re.compile(r".*/chat/[0-9a-f-]{36}$"))
    page.evaluate(CAPTURE_LIVE_TEXT)
    streaming = page.locator(".message-assistant.is-streaming")
    expect(streaming.locator(".message-body table")).to_be_visible(timeout=15000)
    expect(streaming.locator(".message-body pre code")).to_contain_text("def greet")
    expect(streaming.locator(".message-body strong")).to_have_text("Studio's demo model")
    live = streaming.locator(".message-body").inner_text()  # fails if the answer has ended meanwhile
    assert "```" not in live and "**" not in live and "| ---" not in live
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "live-formatting-streaming.png")

    done = page.locator(".message-assistant.is-complete")
    expect(done).to_be_visible(timeout=20000)
    final = done.locator(".message-body").inner_text()
    assert final.rstrip().endswith("word119")
    live_at_the_end = page.evaluate("window.__liveText")
    assert live_at_the_end and words(live_at_the_end) == words(final)
    page.screenshot(path=SHOTS / "live-formatting-done.png")


def test_a_reload_mid_answer_shows_the_same_formatted_prefix(signed_in_page, slow_demo):
    page = signed_in_page()
    send(page, PROMPT)
    streaming = page.locator(".message-assistant.is-streaming")
    expect(streaming.locator(".message-body table")).to_be_visible(timeout=15000)
    page.reload()
    page.evaluate(CAPTURE_LIVE_TEXT)
    streaming = page.locator(".message-assistant.is-streaming")
    expect(streaming.locator(".message-body table")).to_be_visible()  # rendered by the page itself
    expect(streaming.locator(".message-body pre code")).to_contain_text("def greet")
    assert "```" not in streaming.locator(".message-body").inner_text()
    done = page.locator(".message-assistant.is-complete")
    expect(done).to_be_visible(timeout=20000)
    final = done.locator(".message-body").inner_text()
    assert final.count("You said:") == 1 and final.rstrip().endswith("word119")
    assert words(page.evaluate("window.__liveText")) == words(final)
