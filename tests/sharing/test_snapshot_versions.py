"""A share link shows the conversation exactly as it was when shared: a later edit or regenerate
does not change it (the original question and answer are kept as superseded versions) until the
owner updates the link."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.sharing.models import Share
from tests.chat.helpers import last_answer, start_chat, wait_for_answer
from tests.factories import demo_model, make_model

pytestmark = pytest.mark.postgres  # the snapshot compares ordered UUIDs, stored differently per database


def share(person, conversation) -> Share:
    response = person.post(f"/chat/{conversation.id}/share", {"expiry": "7d"}, htmx=True)
    assert response.status_code == 200
    return db.session.scalars(select(Share).order_by(Share.created_at.desc())).first()


def update_link(person, link):
    assert person.post(f"/shares/{link.id}/update", {"from": "panel"}, htmx=True).status_code == 200


def conversation_with_an_answer(person, text):
    conversation = start_chat(person, text)
    wait_for_answer(last_answer(conversation).id)
    return conversation


def edit(person, conversation, text):
    person.post(f"/chat/{conversation.id}/edit", {"content": text, "model_id": str(demo_model().id)}, htmx=True)
    return wait_for_answer(last_answer(conversation).id)


def regenerate(person, conversation, model):
    person.post(f"/chat/{conversation.id}/regenerate", {"model_id": str(model.id)}, htmx=True)
    return wait_for_answer(last_answer(conversation).id)


def visit(client, link) -> str:
    return client.get(f"/s/{link.share_token}").get_data(as_text=True)


def test_visitor_still_sees_the_original_question_and_answer_after_an_edit(client, login_as):
    person = login_as("user")
    conversation = conversation_with_an_answer(person, "Is the moon made of cheese?")
    link = share(person, conversation)
    edit(person, conversation, "What is the moon made of?")
    html = visit(client, link)
    assert "Is the moon made of cheese?" in html and "You said: Is the moon made of cheese?" in html
    assert "What is the moon made of?" not in html
    owner_page = person.get(f"/chat/{conversation.id}").get_data(as_text=True)
    assert "You said: What is the moon made of?" in owner_page  # the owner sees the new branch
    update_link(person, link)
    html = visit(client, link)
    assert "What is the moon made of?" in html and "You said: What is the moon made of?" in html
    assert "Is the moon made of cheese?" not in html.split("<h1>", 1)[1].split("</h1>", 1)[1]  # title aside


def test_visitor_still_sees_the_original_answer_after_a_regenerate(client, login_as):
    person = login_as("user")
    conversation = conversation_with_an_answer(person, "Suggest a name")
    link = share(person, conversation)
    regenerate(person, conversation, make_model("Second opinion"))
    html = visit(client, link)
    assert "Studio demo" in html and "Second opinion" not in html
    assert html.count('class="message message-assistant"') == 1
    assert "Second opinion" in person.get(f"/chat/{conversation.id}").get_data(as_text=True)
    update_link(person, link)
    html = visit(client, link)
    assert "Second opinion" in html and html.count('class="message message-assistant"') == 1


def test_a_link_made_after_an_edit_shows_only_the_new_branch(client, login_as):
    person = login_as("user")
    conversation = conversation_with_an_answer(person, "old wording here")
    edit(person, conversation, "new wording here")
    html = visit(client, share(person, conversation))
    assert "new wording here" in html and "old wording here" not in html.split("</h1>", 1)[1]


def test_a_link_made_while_the_new_answer_is_written_shows_the_edited_question_alone(client, login_as):
    person = login_as("user")
    conversation = conversation_with_an_answer(person, "first try")
    person.post(f"/chat/{conversation.id}/edit", {"content": "[[echo:slow]] second try",
                                                   "model_id": str(demo_model().id)}, htmx=True)
    link = share(person, conversation)
    wait_for_answer(last_answer(conversation).id)
    html = visit(client, link).split("</h1>", 1)[1]
    assert "second try" in html and "first try" not in html
    assert 'class="message message-assistant"' not in html


def test_continuing_a_shared_conversation_copies_the_snapshot_not_the_edit(client, login_as):
    owner = login_as("user")
    conversation = conversation_with_an_answer(owner, "the shared question")
    link = share(owner, conversation)
    edit(owner, conversation, "an edited question")
    visitor = login_as("user")
    response = visitor.post(f"/s/{link.share_token}/continue", {})
    copy = visitor.get(response.headers["Location"]).get_data(as_text=True)
    assert "the shared question" in copy and "an edited question" not in copy
