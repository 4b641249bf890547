"""Limits on expensive actions: answers being written at once (counted in the database, exact even
for parallel sends), and request rates for messages, imports, searches and registrations. A refusal
is a 429 that says what to do and when, a toast for htmx, and keeps what was typed."""
from __future__ import annotations

import json
import re
import threading
import uuid
from io import BytesIO

import pytest
from sqlalchemy import func, select

from app.chat.models import Message
from app.extensions import db
from app.llm import registry
from app.llm.base import Finish, Provider, TextDelta, Usage
from tests.chat.helpers import composer_token, wait_for_answer
from tests.conftest import csrf_token_of
from tests.factories import make_conversation, make_user
from tests.sse_client import signed_in_http_client

TOO_FAST = re.compile(r"You are sending messages too fast; try again in \d+ seconds?\.")
THREE_BEING_WRITTEN = "You already have 3 answers being written; wait for one to finish."


class GatedProvider(Provider):
    """A model that writes a first word, then waits until the test lets the answer to that prompt finish."""

    name = "echo"
    gates: dict[str, threading.Event] = {}
    all_released = threading.Event()

    def stream(self, request):
        prompt = next(m.content for m in reversed(request.messages) if m.role == "user")
        yield TextDelta("Thinking")
        gate = GatedProvider.gates.setdefault(prompt, threading.Event())
        for _ in range(600):  # at most 30 s, so a forgotten answer cannot hang the suite
            if gate.wait(0.05) or GatedProvider.all_released.is_set():
                break
        yield TextDelta(" done.")
        yield Usage(input_tokens=1, output_tokens=2)
        yield Finish("stop")


@pytest.fixture
def finish_answer(monkeypatch):
    """Answers stay "being written" until `finish_answer(prompt)`; all are let go at the end of the test."""
    GatedProvider.gates, GatedProvider.all_released = {}, threading.Event()
    monkeypatch.setitem(registry.PROVIDERS, "echo", GatedProvider)

    def finish(prompt: str) -> None:
        GatedProvider.gates.setdefault(prompt, threading.Event()).set()

    yield finish
    GatedProvider.all_released.set()
    finish_all_answers()


def send(person, conversation, text: str, htmx: bool = False):
    """Post the conversation's composer as the page does."""
    page = person.get(f"/chat/{conversation.id}").get_data(as_text=True)
    return person.post(f"/chat/{conversation.id}/messages",
                       {"content": text, "client_request_id": composer_token(page)}, htmx=htmx)


def answers_being_written(user) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Message).where(
        Message.user_id == user.id, Message.status == "streaming"))


def stored(text: str) -> bool:
    return db.session.scalar(select(func.count()).select_from(Message).where(Message.content == text)) > 0


def finish_all_answers():
    db.session.expire_all()
    for message_id in db.session.scalars(select(Message.id).where(Message.status == "streaming")).all():
        wait_for_answer(message_id)


def toast_of(response) -> dict:
    return json.loads(response.headers["HX-Trigger"])["toast"]


# --- messages per minute ---------------------------------------------------------------------------

def test_a_message_past_the_per_minute_limit_is_refused_and_says_when_to_retry(app, login_as):
    app.config["LIMIT_MESSAGES_PER_MINUTE"] = 2
    person = login_as("user")
    conversations = [make_conversation(person.user) for _ in range(3)]
    assert send(person, conversations[0], "first").status_code == 303
    assert send(person, conversations[1], "second").status_code == 303
    response = send(person, conversations[2], "third, typed with care")
    html = response.get_data(as_text=True)
    assert response.status_code == 429
    assert TOO_FAST.search(html)
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert "third, typed with care</textarea>" in html  # the composer keeps the text
    assert not stored("third, typed with care")
    finish_all_answers()


def test_a_refused_htmx_send_shows_a_toast_and_leaves_the_composer_as_typed(app, login_as):
    app.config["LIMIT_MESSAGES_PER_MINUTE"] = 1
    person = login_as("user")
    first, second = make_conversation(person.user), make_conversation(person.user)
    assert send(person, first, "first", htmx=True).status_code == 200
    response = send(person, second, "kept in the composer", htmx=True)
    assert response.status_code == 429  # htmx swaps no error response: the composer stays as typed
    assert response.get_data(as_text=True) == "" and "HX-Retarget" not in response.headers
    toast = toast_of(response)
    assert toast["level"] == "error" and TOO_FAST.fullmatch(toast["message"])
    assert int(response.headers["Retry-After"]) > 0
    assert not stored("kept in the composer")
    finish_all_answers()


def test_a_refused_new_chat_shows_the_page_again_with_the_text(app, login_as):
    app.config["LIMIT_MESSAGES_PER_MINUTE"] = 1
    person = login_as("user")
    for text in ("the first chat", "the second chat"):
        page = person.get("/chat").get_data(as_text=True)
        response = person.post("/chat", {"content": text, "client_request_id": composer_token(page)})
    html = response.get_data(as_text=True)
    assert response.status_code == 429 and TOO_FAST.search(html)
    assert "the second chat</textarea>" in html
    assert not stored("the second chat")
    finish_all_answers()


def test_one_persons_message_limit_does_not_touch_another(app, login_as):
    app.config["LIMIT_MESSAGES_PER_MINUTE"] = 1
    busy, other = login_as("user"), login_as("user")
    assert send(busy, make_conversation(busy.user), "one").status_code == 303
    assert send(busy, make_conversation(busy.user), "two").status_code == 429
    assert send(other, make_conversation(other.user), "mine").status_code == 303
    finish_all_answers()


# --- searches, imports, registrations -----------------------------------------------------------

def test_searches_past_the_per_minute_limit_are_refused(app, login_as):
    app.config["LIMIT_SEARCHES_PER_MINUTE"] = 2
    person, other = login_as("user"), login_as("user")
    for _ in range(2):
        assert person.get("/chat/search?q=budget").status_code == 200
    response = person.get("/chat/search?q=budget")
    assert response.status_code == 429
    assert re.search(r"You are searching too fast; try again in \d+ seconds?\.", response.get_data(as_text=True))
    assert int(response.headers["Retry-After"]) > 0
    typed = person.get("/chat/search?q=budget", headers={"HX-Request": "true", "HX-Target": "search-results"})
    assert typed.status_code == 429 and "searching too fast" in toast_of(typed)["message"]
    assert other.get("/chat/search?q=budget").status_code == 200


def test_imports_past_the_per_hour_limit_are_refused_before_the_file_is_read(app, login_as):
    app.config["LIMIT_IMPORTS_PER_HOUR"] = 1
    person, other = login_as("user"), login_as("user")
    chat = json.dumps([{"title": "Imported", "mapping": {}}]).encode()

    def upload(who):
        return who.post("/chat/import", {"file": (BytesIO(chat), "conversations.json")},
                        content_type="multipart/form-data")

    assert upload(person).status_code != 429
    response = upload(person)
    assert response.status_code == 429
    assert re.search(r"You are importing files too fast; try again in \d+ minutes?\.", response.get_data(as_text=True))
    assert int(response.headers["Retry-After"]) > 60
    assert upload(other).status_code != 429


def test_registrations_past_the_per_hour_limit_of_an_address_are_refused(app):
    app.config["LIMIT_REGISTRATIONS_PER_HOUR"] = 2

    def register(number: int, address: str = "203.0.113.7"):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        return client.post("/register", data={
            "email": f"new{number}@example.org", "display_name": "New", "password": "long enough pw",
            "confirm": "long enough pw", "csrf_token": csrf_token_of(client, "/register")})

    assert register(1).status_code == 303 and register(2).status_code == 303
    response = register(3)
    assert response.status_code == 429
    assert re.search(r"Too many accounts were created from your address; try again in \d+ minutes?\.",
                     response.get_data(as_text=True))
    assert register(4, address="198.51.100.9").status_code == 303


# --- answers being written at once ----------------------------------------------------------------

def test_a_fourth_answer_waits_until_one_of_three_finishes(app, login_as, finish_answer):
    app.config["LIMIT_CONCURRENT_GENERATIONS"] = 3
    person, other = login_as("user"), login_as("user")
    conversations = [make_conversation(person.user) for _ in range(4)]
    for number, conversation in enumerate(conversations[:3], start=1):
        assert send(person, conversation, f"question {number}").status_code == 303
    assert answers_being_written(person.user) == 3

    refused = send(person, conversations[3], "a fourth question", htmx=True)
    assert refused.status_code == 429
    assert toast_of(refused)["message"] == THREE_BEING_WRITTEN and int(refused.headers["Retry-After"]) > 0
    page = send(person, conversations[3], "a fourth question")
    assert page.status_code == 429 and THREE_BEING_WRITTEN in page.get_data(as_text=True)
    assert "a fourth question</textarea>" in page.get_data(as_text=True)
    assert not stored("a fourth question")
    assert send(other, make_conversation(other.user), "someone else asks").status_code == 303

    first_answer = db.session.scalar(select(Message.id).where(
        Message.conversation_id == conversations[0].id, Message.role == "assistant"))
    finish_answer("question 1")
    wait_for_answer(first_answer)
    assert send(person, conversations[3], "a fourth question").status_code == 303
    assert answers_being_written(person.user) == 3


def test_regenerating_counts_as_an_answer_being_written(app, login_as, finish_answer):
    app.config["LIMIT_CONCURRENT_GENERATIONS"] = 1
    person = login_as("user")
    busy, finished = make_conversation(person.user), make_conversation(person.user, messages=2)
    assert send(person, busy, "take your time").status_code == 303
    old_answer = db.session.scalar(select(Message.content).where(
        Message.conversation_id == finished.id, Message.role == "assistant"))
    response = person.post(f"/chat/{finished.id}/regenerate", {}, htmx=True)
    assert response.status_code == 429
    assert toast_of(response)["message"] == "You already have 1 answer being written; wait for it to finish."
    assert stored(old_answer)  # the answer it would have replaced is still there


@pytest.mark.postgres
def test_parallel_sends_never_start_more_answers_than_the_limit(app, live_server, finish_answer):
    app.config["LIMIT_CONCURRENT_GENERATIONS"] = 3
    user = make_user()
    paths = [f"/chat/{make_conversation(user).id}/messages" for _ in range(8)]
    client = signed_in_http_client(live_server, user)
    start = threading.Barrier(len(paths))
    statuses: list[int] = []

    def send_at_once(path):
        start.wait(timeout=30)
        response = client.post(path, data={"content": "all at once", "client_request_id": uuid.uuid4().hex})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=send_at_once, args=(path,)) for path in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [303] * 3 + [429] * 5
    assert answers_being_written(user) == 3
