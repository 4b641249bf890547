"""Exporting a conversation as Markdown and as Studio JSON, and the round trip back through import."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from io import BytesIO

import pytest
from sqlalchemy import select

from app.chat.models import Conversation, Message, MessageOptions
from app.extensions import db
from app.jobs import runner
from app.transfer import services
from tests.factories import make_conversation

EXPORTS = ["export.md", "export.json"]


def conversation_with_details(user, title="Trip plan: Lisbon / Porto", messages=4):
    """A conversation whose answers carry a model, options, reasoning and usage."""
    conversation = make_conversation(user, title=title, messages=messages, system_prompt="Answer briefly.")
    rows = messages_of(conversation.id)
    answer = rows[1]
    answer.content = "Take the **Alfa Pendular**:\n\n```text\nLisboa → Porto 2h49\n```"
    answer.reasoning_content = "Trains are faster than buses here."
    answer.input_tokens, answer.output_tokens, answer.cost_usd = 12, 34, Decimal("0.0001234567")
    answer.options = MessageOptions(temperature=Decimal("0.70"), max_tokens=300, top_p=Decimal("0.900"))
    db.session.commit()
    return conversation


def messages_of(conversation_id) -> list[Message]:
    by_conversation = select(Message).where(Message.conversation_id == conversation_id)
    return list(db.session.scalars(by_conversation.order_by(Message.id)))


@pytest.mark.postgres
def test_json_export_is_a_download_with_every_detail(login_as):
    person = login_as("user")
    conversation = conversation_with_details(person.user)
    response = person.get(f"/chat/{conversation.id}/export.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"trip-plan-lisbon-porto.json\"; "
        "filename*=UTF-8''Trip%20plan%20Lisbon%20Porto.json")
    assert response.headers["Cache-Control"] == "no-store"
    document = json.loads(response.get_data(as_text=True))
    assert (document["format"], document["version"]) == ("studio-export", 1)
    (exported,) = document["conversations"]
    assert exported["title"] == "Trip plan: Lisbon / Porto" and exported["system_prompt"] == "Answer briefly."
    assert exported["model"]["provider"] == "echo"
    assert [m["role"] for m in exported["messages"]] == ["user", "assistant", "user", "assistant"]
    answer = exported["messages"][1]
    assert answer["content"].startswith("Take the **Alfa Pendular**")
    assert answer["reasoning_content"] == "Trains are faster than buses here."
    assert answer["options"] == {"temperature": 0.7, "top_p": 0.9, "max_tokens": 300,
                                 "frequency_penalty": None, "presence_penalty": None}
    assert answer["usage"] == {"input_tokens": 12, "output_tokens": 34, "cached_input_tokens": None,
                               "cost_usd": "0.0001234567"}
    assert answer["model"]["name"] == conversation.model.name
    assert answer["created_at"].endswith("+00:00") and answer["status"] == "complete"


def test_markdown_export_is_a_readable_transcript(login_as):
    person = login_as("user")
    conversation = conversation_with_details(person.user)
    response = person.get(f"/chat/{conversation.id}/export.md")
    assert response.status_code == 200 and response.mimetype == "text/markdown"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="trip-plan-lisbon-porto.md"')
    text = response.get_data(as_text=True)
    assert text.startswith("# Trip plan: Lisbon / Porto\n")
    assert "**System prompt**\n\n> Answer briefly." in text
    assert "### You · " in text and f"### Assistant ({conversation.model.name}) · " in text
    assert "```text\nLisboa → Porto 2h49\n```" in text
    assert "*Options: temperature 0.7, top_p 0.9, max_tokens 300*" in text
    assert "> Trains are faster than buses here." in text


def test_a_long_conversation_exports_every_message(login_as):
    person = login_as("user")
    conversation = make_conversation(person.user, messages=123)
    document = json.loads(person.get(f"/chat/{conversation.id}/export.json").get_data(as_text=True))
    contents = [m["content"] for m in document["conversations"][0]["messages"]]
    assert contents == [f"Message {n} from the {'user' if n % 2 == 0 else 'assistant'}" for n in range(123)]


@pytest.mark.parametrize("export", EXPORTS)
def test_another_users_conversation_is_not_found(login_as, export):
    owner, stranger = login_as("user"), login_as("user")
    conversation = make_conversation(owner.user, messages=2)
    assert stranger.get(f"/chat/{conversation.id}/{export}").status_code == 404
    assert stranger.get(f"/chat/00000000-0000-7000-8000-000000000000/{export}").status_code == 404


@pytest.mark.parametrize("export", EXPORTS)
def test_signed_out_visitors_are_sent_to_sign_in(client, login_as, export):
    conversation = make_conversation(login_as("user").user, messages=2)
    response = client.get(f"/chat/{conversation.id}/{export}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_hostile_title_gives_a_safe_file_name(login_as):
    person = login_as("user")
    conversation = make_conversation(person.user, title='..\\..\\"; filename=evil.exe', messages=2)
    header = person.get(f"/chat/{conversation.id}/export.md").headers["Content-Disposition"]
    assert header == "attachment; filename=\"filename-evil-exe.md\"; filename*=UTF-8''%3B%20filename%3Devil.exe.md"


def import_json(person, data: bytes):
    """Upload, run the queued import here, and return its report page."""
    response = person.post("/chat/import", {"file": (BytesIO(data), "export.json")}, content_type="multipart/form-data")
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    runner.run_pending()
    return person.get(response.headers["Location"])


@pytest.mark.postgres
def test_export_then_import_gives_the_same_titles_roles_texts_and_timestamps(login_as):
    person = login_as("user")
    original = conversation_with_details(person.user, title="Round trip ✓ <b>bold</b>", messages=6)
    exported = person.get(f"/chat/{original.id}/export.json").get_data()
    html = import_json(person, exported).get_data(as_text=True)
    assert "Imported 1 conversation (6 messages) from a Studio export" in html
    copy = db.session.scalar(select(Conversation).where(Conversation.user_id == person.user.id,
                                                        Conversation.id != original.id))
    assert copy.title == original.title
    assert copy.created_at == original.created_at
    assert copy.model_id == original.model_id
    before, after = messages_of(original.id), messages_of(copy.id)
    assert [(m.role, m.content, m.created_at) for m in after] == [(m.role, m.content, m.created_at) for m in before]
    assert after[1].content_html and "<strong>Alfa Pendular</strong>" in after[1].content_html


@pytest.mark.postgres
def test_round_trip_through_another_account(login_as):
    """What one person exports, another can import: the copy is theirs alone."""
    sender, receiver = login_as("user"), login_as("user")
    original = conversation_with_details(sender.user)
    import_json(receiver, sender.get(f"/chat/{original.id}/export.json").get_data())
    (copy,) = db.session.scalars(select(Conversation).where(Conversation.user_id == receiver.user.id))
    assert [m.content for m in messages_of(copy.id)] == [m.content for m in messages_of(original.id)]
    assert sender.get(f"/chat/{copy.id}").status_code == 404


@pytest.mark.postgres
def test_export_of_a_round_tripped_file_is_stable(login_as):
    """Export → import → export again: the second file carries the same conversation."""
    person = login_as("user")
    original = conversation_with_details(person.user)
    first = json.loads(person.get(f"/chat/{original.id}/export.json").get_data())
    import_json(person, json.dumps(first).encode())
    copy = db.session.scalar(select(Conversation).where(Conversation.user_id == person.user.id,
                                                        Conversation.id != original.id))
    second = json.loads(person.get(f"/chat/{copy.id}/export.json").get_data())
    keep = ("role", "content", "created_at")
    assert [{k: m[k] for k in keep} for m in second["conversations"][0]["messages"]] == [
        {k: m[k] for k in keep} for m in first["conversations"][0]["messages"]]
    assert second["conversations"][0]["title"] == first["conversations"][0]["title"]
    assert second["conversations"][0]["created_at"] == first["conversations"][0]["created_at"]


def test_export_document_starts_with_its_format_marker_and_version():
    assert services.export_document([], datetime(2025, 1, 1, tzinfo=UTC)) == {
        "format": "studio-export", "version": 1, "exported_at": "2025-01-01T00:00:00+00:00", "conversations": []}
