"""Another user's conversation, messages, stream and every action answer 404; nothing changes."""
from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import func, select

from app.chat.models import Conversation, Message
from app.extensions import db
from tests.chat.helpers import last_answer, start_chat, wait_for_answer
from tests.factories import make_conversation


def chat_routes(app):
    """Every /chat rule that names a conversation, so a new one cannot be forgotten here."""
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/chat/<uuid:conversation_id>"):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield method, rule.rule


def test_every_conversation_route_answers_404_to_another_user(app, login_as):
    owner = login_as("user")
    conversation = start_chat(owner, "my private plans")
    answer = wait_for_answer(last_answer(conversation).id)
    intruder = login_as("user")
    routes = list(chat_routes(app))
    assert len(routes) >= 12
    for method, rule in routes:
        url = re.sub(r"<uuid:conversation_id>", str(conversation.id), rule).replace("<uuid:message_id>", str(answer.id))
        data = {"content": "hijack", "title": "hijacked", "pinned": "1", "archived": "1", "category": "down",
                "model_id": str(answer.model_id), "client_request_id": uuid.uuid4().hex}
        response = intruder.get(url) if method == "GET" else intruder.post(url, data)
        assert response.status_code == 404, (method, url, response.status_code)
        assert "my private plans" not in response.get_data(as_text=True)
    db.session.refresh(conversation)
    assert conversation.title == "my private plans" and not conversation.is_pinned and not conversation.is_archived
    assert db.session.scalar(select(func.count(Message.id)).where(Message.conversation_id == conversation.id)) == 2


def test_a_message_of_another_conversation_cannot_be_streamed_through_ones_own(login_as):
    owner = login_as("user")
    theirs = start_chat(owner, "secret answer please")
    their_answer = wait_for_answer(last_answer(theirs).id)
    intruder = login_as("user")
    mine = make_conversation(intruder.user, messages=2)
    response = intruder.get(f"/chat/{mine.id}/stream/{their_answer.id}", headers={"Last-Event-ID": "0.0"})
    assert response.status_code == 404 and "data:" not in response.get_data(as_text=True)
    feedback = intruder.post(f"/chat/{mine.id}/messages/{their_answer.id}/feedback", {"category": "down"})
    assert feedback.status_code == 404


def test_another_users_conversation_is_not_in_the_sidebar(login_as):
    owner = login_as("user")
    make_conversation(owner.user, title="Owner's topic")
    assert "Owner&#39;s topic" not in login_as("user").get("/chat/sidebar").get_data(as_text=True)


def test_signed_out_visitor_cannot_reach_chat(client):
    for path in ["/chat", "/chat/sidebar", f"/chat/{uuid.uuid4()}"]:
        assert client.get(path).status_code == 302


@pytest.mark.parametrize("path", ["/chat/not-a-uuid", "/chat/00000000-0000-0000-0000-000000000000"])
def test_unknown_conversations_are_404(login_as, path):
    assert login_as("user").get(path).status_code == 404


def test_chat_posts_without_csrf_are_refused(login_as):
    person = login_as("user")
    conversation = make_conversation(person.user, messages=2)
    response = person.client.post(f"/chat/{conversation.id}/messages", data={"content": "no token"})
    assert response.status_code == 400
    assert db.session.scalar(select(func.count(Conversation.id))) == 1
