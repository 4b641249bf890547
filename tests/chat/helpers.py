"""Helpers for chat tests: send through the real routes, wait for the background generation."""
from __future__ import annotations

import re
import time

from sqlalchemy import select

from app.chat.models import Conversation, Message
from app.extensions import db


def composer_token(html: str) -> str:
    match = re.search(r'name="client_request_id" type="hidden" value="([0-9a-f]+)"', html) or re.search(
        r'id="client_request_id" name="client_request_id" type="hidden" value="([0-9a-f]+)"', html)
    assert match, "no composer on the page"
    return match.group(1)


def start_chat(person, text: str, **fields) -> Conversation:
    """Post the new-chat composer as the page does; returns the conversation it opened."""
    page = person.get("/chat").get_data(as_text=True)
    data = {"content": text, "client_request_id": composer_token(page), **fields}
    response = person.post("/chat", data)
    assert response.status_code == 303, response.get_data(as_text=True)[:800]
    conversation_id = response.headers["Location"].rsplit("/", 1)[1]
    return db.session.scalar(select(Conversation).where(Conversation.id == __import__("uuid").UUID(conversation_id)))


def wait_for_answer(message_id, timeout: float = 10.0) -> Message:
    """Poll the database until the answer is no longer streaming."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        db.session.expire_all()
        message = db.session.get(Message, message_id)
        if message is not None and message.status != "streaming":
            return message
        time.sleep(0.05)
    raise AssertionError(f"answer {message_id} still streaming after {timeout}s")


def last_answer(conversation) -> Message:
    db.session.expire_all()
    return db.session.scalar(select(Message).where(Message.conversation_id == conversation.id,
                                                   Message.role == "assistant").order_by(Message.id.desc()).limit(1))
