"""Messages are never rewritten in place: an edit or a regenerate keeps the earlier message as a
superseded version. The conversation (page, history for the model, export, search, counts) is the
current branch; the page offers the previous versions."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from app.chat import services
from app.chat.models import Message
from app.extensions import db
from tests.chat.helpers import last_answer, start_chat, wait_for_answer
from tests.factories import demo_model, make_model

pytestmark = pytest.mark.postgres  # the current-branch reads use a partial index and ordered UUIDs


def edit(person, conversation, text):
    response = person.post(f"/chat/{conversation.id}/edit", {"content": text, "model_id": str(demo_model().id)},
                           htmx=True)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return wait_for_answer(last_answer(conversation).id)


def regenerate(person, conversation, model):
    response = person.post(f"/chat/{conversation.id}/regenerate", {"model_id": str(model.id)}, htmx=True)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return wait_for_answer(last_answer(conversation).id)


def messages_part(html: str) -> str:
    return html.split('id="messages"', 1)[1].split('id="composer"', 1)[0]


def current_part(html: str) -> str:
    """The messages without their "previous version" disclosures: what reads as the conversation now."""
    return re.sub(r'<details class="message-versions">.*?</details>', "", messages_part(html), flags=re.DOTALL)


def versions_part(html: str) -> str:
    return "".join(re.findall(r'<details class="message-versions">.*?</details>', messages_part(html), flags=re.DOTALL))


def search_hits(person, query: str) -> str:
    return person.get("/chat/search", query_string={"q": query},
                      headers={"HX-Request": "true", "HX-Target": "search-results"}).get_data(as_text=True)


def test_the_edited_message_replaces_the_original_which_stays_one_click_away(login_as):
    person = login_as("user")
    conversation = start_chat(person, "What is the capitol of France?")
    wait_for_answer(last_answer(conversation).id)
    edit(person, conversation, "What is the capital of France?")
    html = person.get(f"/chat/{conversation.id}").get_data(as_text=True)
    assert "What is the capital of France?" in current_part(html)
    assert "capitol" not in current_part(html)
    assert "Edited · show previous version" in html
    assert "What is the capitol of France?" in versions_part(html)
    assert "You said: What is the capitol of France?" in versions_part(html)  # the answer it had
    assert "Version 1 of 2" in versions_part(html)


def test_a_regenerated_answer_offers_the_previous_answers(login_as):
    person = login_as("user")
    conversation = start_chat(person, "Name a colour")
    wait_for_answer(last_answer(conversation).id)
    regenerate(person, conversation, make_model("Second opinion"))
    regenerate(person, conversation, make_model("Third opinion"))
    html = person.get(f"/chat/{conversation.id}").get_data(as_text=True)
    assert "Regenerated · show previous 2 versions" in html
    assert "Third opinion" in current_part(html) and "Second opinion" not in current_part(html)
    versions = versions_part(html)
    assert versions.index("Second opinion") < versions.index("Studio demo")  # newest first
    assert html.count('class="message message-assistant') == 1


def test_the_model_is_sent_only_the_current_branch(login_as):
    person = login_as("user")
    conversation = start_chat(person, "first question")
    wait_for_answer(last_answer(conversation).id)
    answer = edit(person, conversation, "better question")
    sent = [m.content for m in services.history_for(answer)]
    assert sent == ["better question"]
    assert answer.content.startswith("You said: better question")


def test_counts_and_export_show_the_current_branch(login_as):
    person = login_as("user")
    conversation = start_chat(person, "draft wording")
    wait_for_answer(last_answer(conversation).id)
    services.rename(person.user, conversation, "Wording")
    edit(person, conversation, "final wording")
    regenerate(person, conversation, demo_model())
    db.session.refresh(conversation)
    assert conversation.message_count == 2
    assert "2 messages" in person.get(f"/chat/{conversation.id}").get_data(as_text=True)
    exported = json.loads(person.get(f"/chat/{conversation.id}/export.json").get_data(as_text=True))
    [record] = exported["conversations"]
    assert [m["content"].split("\n")[0] for m in record["messages"]] == ["final wording", "You said: final wording"]
    markdown = person.get(f"/chat/{conversation.id}/export.md").get_data(as_text=True)
    assert "final wording" in markdown and "draft wording" not in markdown


def test_search_finds_current_text_and_an_old_link_opens_the_current_version(login_as):
    person = login_as("user")
    conversation = start_chat(person, "tell me about zeppelins")
    wait_for_answer(last_answer(conversation).id)
    services.rename(person.user, conversation, "Flying")
    original = db.session.scalar(select(Message).where(Message.conversation_id == conversation.id,
                                                       Message.role == "user"))
    edit(person, conversation, "tell me about airships")
    assert "search-hit" not in search_hits(person, "zeppelins") and "Nothing found" in search_hits(person, "zeppelins")
    assert "<mark>airships</mark>" in search_hits(person, "airships")
    # A result page opened before the edit still links to the original: it opens the conversation now.
    page = person.get(f"/chat/{conversation.id}", query_string={"at": str(original.id)})
    assert page.status_code == 200
    assert "tell me about airships" in current_part(page.get_data(as_text=True))
    assert "tell me about zeppelins" not in current_part(page.get_data(as_text=True))


def test_only_the_last_message_can_be_edited_again_after_an_edit(login_as):
    person = login_as("user")
    conversation = start_chat(person, "one")
    wait_for_answer(last_answer(conversation).id)
    edit(person, conversation, "two")
    edit(person, conversation, "three")
    html = person.get(f"/chat/{conversation.id}").get_data(as_text=True)
    assert "Edited · show previous 2 versions" in html
    assert html.count("Save and resend") == 1 and ">three</textarea>" in html
    rows = db.session.scalars(select(Message.content).where(
        Message.conversation_id == conversation.id, Message.role == "user").order_by(Message.id)).all()
    assert rows == ["one", "two", "three"]  # nothing rewritten
