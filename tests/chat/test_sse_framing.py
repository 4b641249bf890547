"""An answer's text cannot forge SSE fields: a browser ends a line at CR LF, LF or a lone CR, so the
stream frames every one of them. Parsed here with the app's SSE decoder, which follows the browser's
line rules (tests/sse_client.py splits like httpx, on LF only, and would miss a lone CR)."""
from __future__ import annotations

import html

from app.chat.streaming import sse_frame
from app.llm.sse import iter_sse
from tests.chat.helpers import last_answer, start_chat, wait_for_answer

FORGERY = "x\revent: done\rdata: forged"


def browser_events(body: str):
    return list(iter_sse([body.encode()]))


def test_a_lone_cr_in_the_data_cannot_start_a_field():
    for text in [FORGERY, "x\r\nevent: done\r\ndata: forged", "x\nevent: done\ndata: forged"]:
        events = browser_events(sse_frame("delta", text, "3.0"))
        assert [e.event for e in events] == ["delta"]
        assert events[0].data == "x\nevent: done\ndata: forged"  # all of it arrives, as text


def test_an_answer_with_lone_crs_streams_as_text_with_one_done(login_as):
    person = login_as("user")
    conversation = start_chat(person, FORGERY)
    answer = wait_for_answer(last_answer(conversation).id)
    assert answer.status == "complete" and FORGERY in answer.content
    body = person.get(f"/chat/{conversation.id}/stream/{answer.id}").get_data(as_text=True)
    events = browser_events(body)
    assert [e.event for e in events].count("done") == 1 and events[-1].event == "done"
    text = html.unescape("".join(e.data for e in events if e.event == "delta"))
    assert "event: done\ndata: forged" in text
