"""Answers stream over real HTTP and do not depend on the browser: reload resumes, closing the tab
loses nothing, stop keeps the partial text, and a dead generator is reaped with its text kept."""
from __future__ import annotations

import html
import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.chat.models import Message, ModelRequest
from app.extensions import db
from app.models.base import utcnow
from tests.chat.helpers import last_answer, start_chat, wait_for_answer
from tests.factories import make_conversation, make_user
from tests.sse_client import read_events, signed_in_http_client

pytestmark = pytest.mark.postgres  # answers written by a background thread while requests read them

SLOW = "[[echo:slow]] tell me a long story"


def open_new_chat(client, text: str) -> tuple[str, str]:
    """Start a chat over HTTP; returns (conversation path, stream URL of its answer)."""
    page = client.get("/chat").text
    token = re.search(r'name="client_request_id" type="hidden" value="([0-9a-f]+)"', page).group(1)
    response = client.post("/chat", data={"content": text, "client_request_id": token})
    assert response.status_code == 303
    conversation_path = response.headers["location"]
    page = client.get(conversation_path).text
    stream_url = html.unescape(re.search(r'sse-connect="([^"]+)"', page).group(1))
    # From the first character: the page may already show the start of the answer (its generator
    # started before the page was read), and the tests compare the stream with the whole answer.
    return conversation_path, re.sub(r"after=[0-9.]+", "after=0.0", stream_url)


def text_of(events) -> str:
    return html.unescape("".join(e.data for e in events if e.event == "delta"))


def up_to_last_id(events):
    """The events a browser has taken in as of its Last-Event-ID (a `delta` right before `blocks` has none)."""
    last = max(number for number, event in enumerate(events) if event.id)
    return events[:last + 1]


def test_the_answer_streams_as_events_and_ends_with_the_rendered_message(app, live_server):
    user = make_user()
    client = signed_in_http_client(live_server, user)
    _, stream_url = open_new_chat(client, "[[echo:slow]] stream me some code")
    with client.stream("GET", stream_url) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-store"
        events = read_events(response)
    assert events[-1].event == "done"
    deltas = [e for e in events if e.event == "delta"]
    assert len(deltas) >= 2  # it arrived in pieces
    answer = db.session.scalar(select(Message).where(Message.role == "assistant"))
    assert answer.status == "complete" and text_of(events) == answer.content
    assert 'class="message-body" hx-disable' in events[-1].data and "<code" in events[-1].data
    offsets = [int(e.id.split(".")[0]) for e in events[:-1] if e.id]
    assert offsets == sorted(offsets) and offsets[-1] == len(answer.content)
    # Finished blocks arrive formatted as they complete (live.py); the code block among them.
    assert any(e.event == "blocks" and "<pre><code" in e.data for e in events)


def test_reloading_mid_answer_shows_the_text_so_far_and_continues(app, live_server):
    user = make_user()
    client = signed_in_http_client(live_server, user)
    conversation_path, stream_url = open_new_chat(client, SLOW)
    with client.stream("GET", stream_url) as response:
        first_part = up_to_last_id(read_events(response, limit=3))
    last_id = first_part[-1].id
    time.sleep(0.3)
    # The reload: the page has the text written so far (finished blocks formatted, the block being
    # written as text), and its stream link starts after it.
    page = client.get(conversation_path).text
    resumed_url = html.unescape(re.search(r'sse-connect="([^"]+)"', page).group(1))
    shown_length = int(re.search(r"after=(\d+)\.", resumed_url).group(1))
    written = html.unescape(re.search(r'sse-swap="delta" hx-swap="beforeend">(.*?)</div>', page, re.S).group(1))
    assert shown_length > len(text_of(first_part)) and "<p>You said: [[echo:slow]] tell me a long story</p>" in page
    with client.stream("GET", resumed_url) as response:
        rest = read_events(response)
    answer = db.session.scalar(select(Message).where(Message.role == "assistant"))
    assert answer.status == "complete" and answer.content[:shown_length].endswith(written)
    assert answer.content[:shown_length] + text_of(rest) == answer.content
    # A browser's automatic reconnect sends Last-Event-ID: the stream resumes after it, nothing repeated.
    with client.stream("GET", stream_url, headers={"Last-Event-ID": last_id}) as response:
        after_id = read_events(response)
    assert text_of(first_part) + text_of(after_id) == answer.content


def test_closing_the_tab_does_not_lose_the_answer(app, live_server):
    user = make_user()
    client = signed_in_http_client(live_server, user)
    _, stream_url = open_new_chat(client, "[[echo:slow]] finish without me")
    with client.stream("GET", stream_url) as response:
        read_events(response, limit=1)
    client.close()  # the browser is gone
    answer = wait_for_answer(db.session.scalar(select(Message.id).where(Message.role == "assistant")), timeout=20)
    assert answer.status == "complete" and answer.content.endswith("word119")
    assert db.session.scalar(select(ModelRequest.status)) == "success"


def test_stop_keeps_the_partial_text(app, live_server):
    user = make_user()
    client = signed_in_http_client(live_server, user)
    conversation_path, stream_url = open_new_chat(client, SLOW)
    with client.stream("GET", stream_url) as response:
        read_events(response, limit=4)
        stop = client.post(conversation_path + "/stop", headers={"HX-Request": "true"})
        assert stop.status_code == 204 and "Stopped" in stop.headers["hx-trigger"]
        rest = read_events(response)
    assert rest[-1].event == "done" and "Stopped. The text so far is kept." in rest[-1].data
    answer = db.session.scalar(select(Message).where(Message.role == "assistant"))
    assert answer.status == "stopped" and answer.content and not answer.content.endswith("word119")
    assert db.session.scalar(select(ModelRequest.status)) == "stopped"


def test_another_user_cannot_stream_or_stop_an_answer(app, live_server):
    owner, intruder = make_user(), make_user()
    owner_client = signed_in_http_client(live_server, owner)
    conversation_path, stream_url = open_new_chat(owner_client, "[[echo:slow]] mine alone")
    intruder_client = signed_in_http_client(live_server, intruder)
    stolen = intruder_client.get(stream_url, headers={"Last-Event-ID": "0.0"})
    assert stolen.status_code == 404 and "data:" not in stolen.text
    assert intruder_client.post(conversation_path + "/stop").status_code == 404
    with owner_client.stream("GET", stream_url) as response:
        events = read_events(response)
    assert events[-1].event == "done"
    assert db.session.scalar(select(Message.status).where(Message.role == "assistant")) == "complete"


def test_model_text_cannot_forge_events(app, live_server):
    user = make_user()
    client = signed_in_http_client(live_server, user)
    _, stream_url = open_new_chat(client, "x\n\nevent: done\ndata: <img src=x onerror=alert(1)>")
    with client.stream("GET", stream_url) as response:
        events = read_events(response)
    assert [e.event for e in events].count("done") == 1 and events[-1].event == "done"
    assert "<img" not in "".join(e.data for e in events if e.event == "delta")
    assert "onerror=alert" not in events[-1].data.replace("onerror=alert(1)&gt;", "")
    assert "event: done" in text_of(events)  # it arrived as text of the answer


def test_a_generation_whose_process_died_is_marked_failed_with_its_text(login_as):
    person = login_as("user")
    conversation = make_conversation(person.user, messages=1)
    orphan = Message(conversation_id=conversation.id, user_id=person.user.id, role="assistant", content="half an ans",
                     status="streaming",
                     heartbeat_at=utcnow() - timedelta(minutes=5))
    db.session.add(orphan)
    db.session.commit()
    html_page = person.get(f"/chat/{conversation.id}").get_data(as_text=True)
    assert "The server stopped while writing this answer." in html_page and "half an ans" in html_page
    reaped = db.session.get(Message, orphan.id)
    assert reaped.status == "failed" and reaped.content == "half an ans"


def test_stream_of_a_finished_answer_sends_done_at_once(login_as):
    person = login_as("user")
    conversation = start_chat(person, "quick one")
    answer = wait_for_answer(last_answer(conversation).id)
    stream_path = f"/chat/{conversation.id}/stream/{answer.id}?after={len(answer.content)}.0"
    body = person.get(stream_path).get_data(as_text=True)
    assert "event: delta" not in body and "event: done" in body
