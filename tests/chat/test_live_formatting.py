"""While an answer streams, its finished blocks travel as HTML made by the same renderer and sanitiser
as the final answer (so nothing is live-only unsafe), the rest as escaped text; the page of a
streaming answer shows the same formatted prefix, and with live formatting off only text travels."""
from __future__ import annotations

import html
import re
import uuid
from pathlib import Path

from app.chat.live import LiveAnswer, live_view
from app.core.markdown import render_markdown_safe
from tests.chat.test_rendering import problems_in, variants
from tests.shared_testdata import shared_file

FIXTURES = Path(__file__).resolve().parent / "fixtures"
OOB = re.compile(r'\A<div hx-swap-oob="beforeend:#answer-blocks-[0-9a-f-]{36}">(.*)</div>(.*)\Z', re.S)


def streamed(text: str, piece: int = 37):
    """(blocks HTML, tail) as a browser ends up with them, and every blocks event's data."""
    answer, shown, tail, events = LiveAnswer(uuid.uuid4(), ""), [], "", []
    for start in range(0, len(text), piece):
        new_text = text[start:start + piece]
        tail += html.escape(new_text, quote=False)
        data = answer.read(new_text)
        if data:
            events.append(data)
            match = OOB.match(data)
            assert match, data[:200]
            shown.append(match[1])
            tail = match[2]
    return "".join(shown), tail, events


def test_finished_blocks_arrive_rendered_and_the_rest_as_text():
    text = (FIXTURES / "long-answer.md").read_text(encoding="utf-8")
    shown, tail, events = streamed(text)
    assert len(events) > 3 and "<pre><code" in shown and "<table>" in shown
    final = render_markdown_safe(text)
    assert final.startswith(shown)
    assert shown + render_markdown_safe(html.unescape(tail)) == final


def test_hostile_answers_stay_inert_while_they_stream():
    payloads = [p for p in (FIXTURES / "xss-payloads.txt").read_text(encoding="utf-8").splitlines() if p]
    payloads += [p for p in shared_file("xss-payloads.txt").read_text(encoding="utf-8").splitlines() if p]
    payloads += [p for p in (FIXTURES / "mathml-xss-payloads.txt").read_text(encoding="utf-8").splitlines() if p]
    text = "\n\n".join(v for p in payloads for v in variants(p))
    shown, tail, events = streamed(text, piece=211)
    assert len(events) > 100
    assert problems_in(shown) == []
    assert "<" not in tail  # the unfinished block is text


def test_the_page_shows_the_same_formatted_prefix_as_the_stream(app):
    text = (FIXTURES / "long-answer.md").read_text(encoding="utf-8")
    half = text[: len(text) // 2]
    shown, tail, _ = streamed(half, piece=5)
    view = live_view(half)
    assert str(view.blocks_html) == shown and html.escape(view.tail, quote=False) == tail


def test_a_reconnect_continues_without_sending_blocks_again():
    text = (FIXTURES / "long-answer.md").read_text(encoding="utf-8")
    cut = len(text) // 2
    whole, _, _ = streamed(text)
    first_half, _, _ = streamed(text[:cut])
    resumed = LiveAnswer(uuid.uuid4(), text[:cut])
    rest = "".join(OOB.match(data)[1] for data in [resumed.read(text[cut:])] if data)
    assert first_half + rest == whole


def test_with_live_formatting_off_only_text_travels(app):
    app.config["LIVE_FORMATTING"] = False
    try:
        view = live_view("**done**\n\nnext")
        assert view.blocks_html == "" and view.tail == "**done**\n\nnext"
        assert LiveAnswer(uuid.uuid4(), "", enabled=False).read("**done**\n\nnext") is None
    finally:
        app.config["LIVE_FORMATTING"] = True
