"""Reading ChatGPT's conversations.json: the main branch, what is left out and why. Pure: no database."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.transfer import chatgpt
from app.transfer.chatgpt import IMAGE_PLACEHOLDER
from tests.shared_testdata import shared_file

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def shared(name: str):
    return json.loads(shared_file(f"chatgpt-export/{name}").read_text(encoding="utf-8"))


def node(node_id, parent, role, text, at=None, **message_fields):
    message = {"id": node_id, "author": {"role": role}, "create_time": at,
               "content": {"content_type": "text", "parts": [text]}, **message_fields}
    return {"id": node_id, "parent": parent, "message": message}


def conversation(*nodes, title="A chat", current=None, **fields):
    return {"title": title, "create_time": 1_700_000_000.0, "mapping": {n["id"]: n for n in nodes},
            "current_node": current, **fields}


# --- the main branch -------------------------------------------------------------------------------

def test_main_branch_follows_current_node_past_an_edit_and_a_regenerated_answer():
    lisbon = chatgpt.parse(fixture("chatgpt-conversations.json")).conversations[0]
    assert lisbon.title == "Lisbon neighbourhoods for a week"
    assert [m.role for m in lisbon.messages] == ["user", "assistant"] * 3
    texts = [m.content for m in lisbon.messages]
    assert texts[2] == "Which one is quiet but still close to the tram lines?"  # the edited question
    assert "Which one is cheapest?" not in texts  # the abandoned first version
    assert texts[3].startswith("Príncipe Real")  # the regenerated answer, not the first one
    assert not any("quiet in the mornings" in text for text in texts)


def test_system_tool_and_hidden_nodes_are_left_out_and_counted():
    lisbon = chatgpt.parse(fixture("chatgpt-conversations.json")).conversations[0]
    texts = "\n".join(m.content for m in lisbon.messages)
    assert "search(" not in texts and "Open 24 hours" not in texts and "Ghent" not in texts
    assert ("Left out: 1 system message, 1 tool message, 1 message addressed to a tool, 1 hidden message."
            in lisbon.notes)


def test_multimodal_parts_keep_the_text_and_mark_the_image():
    lisbon = chatgpt.parse(fixture("chatgpt-conversations.json")).conversations[0]
    assert lisbon.messages[4].content == f"{IMAGE_PLACEHOLDER}\n\nIs this the miradouro you meant?"
    assert any("1 image was not imported" in note for note in lisbon.notes)


def test_dates_come_from_create_time_and_a_missing_one_takes_the_one_before():
    lisbon = chatgpt.parse(fixture("chatgpt-conversations.json")).conversations[0]
    assert lisbon.created_at == datetime(2024, 6, 13, 9, 0, tzinfo=UTC)
    assert lisbon.messages[0].created_at == datetime(2024, 6, 13, 9, 0, 1, 250000, tzinfo=UTC)
    assert lisbon.messages[5].created_at == lisbon.messages[4].created_at  # its create_time is null


def test_a_conversation_without_any_date_is_noted():
    undated = chatgpt.parse(fixture("chatgpt-conversations.json")).conversations[2]
    assert undated.created_at is None and all(m.created_at is None for m in undated.messages)
    assert any("no dates" in note for note in undated.notes)


def test_models_come_from_the_message_metadata():
    lisbon = chatgpt.parse(fixture("chatgpt-conversations.json")).conversations[0]
    assert {m.model_name for m in lisbon.messages if m.role == "assistant"} == {"gpt-4o"}
    assert {m.model_name for m in lisbon.messages if m.role == "user"} == {None}
    assert lisbon.model_id == "gpt-4o"


def test_citation_marks_are_removed_from_the_text():
    lisbon = chatgpt.parse(fixture("chatgpt-conversations.json")).conversations[0]
    assert lisbon.messages[5].content == ("Yes — that is the Miradouro de São Pedro de Alcântara, open day and night. "
                                          "Go at sunset.")


def test_entries_without_messages_are_skipped_with_a_reason():
    parsed = chatgpt.parse(fixture("chatgpt-conversations.json"))
    assert [c.title for c in parsed.conversations] == [
        "Lisbon neighbourhoods for a week", "<img src=x onerror=alert('title')> Safe HTML?", "Good morning in Dutch"]
    reasons = {s.label: s.reason for s in parsed.skipped}
    assert reasons == {
        "Conversation 4: “Half-written entry”": "it has no messages (its “mapping” is missing or empty)",
        "Conversation 5: “Tool chatter”": "its main branch has no text from you or the assistant",
    }


def test_without_current_node_the_latest_leaf_is_the_main_branch():
    parsed = chatgpt.parse([conversation(
        node("r", None, "user", "Question", 1.0),
        node("old", "r", "assistant", "First answer", 2.0),
        node("new", "r", "assistant", "Second answer", 3.0),
    )])
    (only,) = parsed.conversations
    assert [m.content for m in only.messages] == ["Question", "Second answer"]
    assert any("latest one" in note for note in only.notes)


def test_a_parent_missing_from_the_mapping_ends_the_branch():
    (only,) = chatgpt.parse([conversation(
        node("a", "not-in-mapping", "user", "Orphan question", 1.0),
        node("b", "a", "assistant", "Answer", 2.0), current="b")]).conversations
    assert [m.content for m in only.messages] == ["Orphan question", "Answer"]


def test_a_cycle_of_parents_ends_and_does_not_hang():
    (only,) = chatgpt.parse([conversation(
        node("a", "b", "user", "One", 1.0), node("b", "a", "assistant", "Two", 2.0), current="b")]).conversations
    assert [m.content for m in only.messages] == ["One", "Two"]


@pytest.mark.parametrize("entry", [
    "a string", 42, None, [], {"title": "No mapping"}, {"mapping": "not a dict"}, {"mapping": {}},
    {"mapping": {"a": "not a node"}, "current_node": "a"},
    {"mapping": {"a": {"parent": None, "message": {"author": "user", "content": "hi"}}}, "current_node": "a"},
    {"mapping": {"a": {"parent": None, "message": {"author": {"role": "user"}, "content": {"content_type": "text",
                                                                                         "parts": "hi"}}}}},
    {"mapping": {"a": {"parent": None, "message": {"author": {"role": ["user"]}, "content": {}}}}},
    {"title": {"nested": True}, "mapping": {"a": {"parent": 7, "message": None}}, "current_node": ["a"]},
])
def test_wrong_shapes_and_types_are_skipped_not_crashed_on(entry):
    good = conversation(node("x", None, "user", "Fine", 1.0), current="x")
    parsed = chatgpt.parse([entry, good])
    assert [c.messages[0].content for c in parsed.conversations] == ["Fine"]
    assert len(parsed.skipped) == 1 and parsed.skipped[0].label.startswith("Conversation 1")


def test_wrong_types_inside_a_readable_conversation_are_cleaned():
    (only,) = chatgpt.parse([conversation(
        node("a", None, "user", "Hello\x00 there\x07", "yesterday"),
        node("b", "a", "assistant", "Hi\ud800", float("nan"), metadata={"model_slug": {"x": 1}}),
        current="b", title=12345, create_time=1e300)]).conversations
    assert only.title == "New conversation" and any("title was not text" in n for n in only.notes)
    assert [m.content for m in only.messages] == ["Hello there", "Hi\ufffd"]
    assert only.created_at is None and only.messages[1].model_name is None


def test_non_text_parts_are_dropped_and_counted():
    (only,) = chatgpt.parse([conversation({"id": "a", "parent": None, "message": {
        "author": {"role": "user"}, "content": {"content_type": "text", "parts": [
            "Before", {"some_key": "not text"}, 7, None, {"content_type": "audio_transcription", "text": "Said aloud"},
            "After"]}}}, current="a")]).conversations
    assert only.messages[0].content == "Before\n\nSaid aloud\n\nAfter"
    assert any("3 parts of messages were not text" in note for note in only.notes)


def test_a_very_long_message_is_cut_with_a_note():
    from app.chat.services import MAX_MESSAGE_CHARS

    (only,) = chatgpt.parse([conversation(node("a", None, "user", "x" * (MAX_MESSAGE_CHARS + 500), 1.0),
                                          current="a")]).conversations
    assert len(only.messages[0].content) == MAX_MESSAGE_CHARS
    assert any("1 message was longer than 32,000 characters" in note for note in only.notes)


def test_a_very_long_title_is_cut_with_a_note():
    (only,) = chatgpt.parse([conversation(node("a", None, "user", "Hi", 1.0), current="a",
                                          title="Long " * 100)]).conversations
    assert len(only.title) == 200 and only.title.endswith("…")
    assert any("title was cut" in note for note in only.notes)


# --- real exports written by others (read, not copied: ../shared/testdata) --------------------------

def test_real_export_with_branches_imports_its_main_branch():
    (tree,) = chatgpt.parse(shared("librechat-chatgpt-tree.json")).conversations
    assert [m.content for m in tree.messages[:5]] == [
        "hi there", "Hello! How can I assist you today?", "hi again", "Hey! Welcome back. What's on your mind?",
        "tell me a joke"]
    assert "so cool bro" not in [m.content for m in tree.messages]
    assert tree.messages[5].created_at == datetime.fromtimestamp(1714585060.598792, UTC)  # the regenerated joke


def test_real_export_with_browsing_keeps_only_the_conversation():
    parsed = chatgpt.parse(shared("librechat-chatgpt-export.json"))
    web = parsed.conversations[0]
    assert web.title == "Conversation 1. Web Search"
    assert [m.role for m in web.messages] == ["user", "assistant"] * 3
    assert not any("mclick" in m.content or "search(" in m.content for m in web.messages)
    assert "Left out: 1 system message, 5 tool messages, 4 messages addressed to tools." in web.notes


def test_real_combined_export_reads_every_conversation():
    parsed = chatgpt.parse(shared("conversations.json"))
    assert len(parsed.conversations) == 6 and not parsed.skipped
    images = parsed.conversations[4]
    assert images.title == "Interpretación pintura surrealista"
    assert images.messages[0].content == f"{IMAGE_PLACEHOLDER}\n\nInterpret this painting"
    assert all("\ue203" not in m.content for c in parsed.conversations for m in c.messages)


def test_real_modern_export_skips_its_corrupted_entry():
    parsed = chatgpt.parse(shared("librechat-chatgpt-modern-export.json"))
    assert [c.title for c in parsed.conversations] == ["Deploying the staging cluster", "Weeknight pasta"]
    assert parsed.skipped[0].label == "Conversation 2: “Corrupted entry”"


def test_real_single_conversation_objects_and_odd_samples_are_read():
    assert chatgpt.parse(shared("echomine-golden-001_simple_text.json")).conversations[0].messages
    (types,) = chatgpt.parse(shared("echomine-openai_content_types.json")).conversations
    assert [m.content for m in types.messages] == ["Hello world", f"Check this image\n\n{IMAGE_PLACEHOLDER}"]
    (hidden,) = chatgpt.parse(shared("echomine-openai_hidden.json")).conversations
    assert [m.content for m in hidden.messages] == ["Hello"]
    (citations,) = chatgpt.parse(shared("librechat-chatgpt-citations.json")).conversations
    assert citations.messages[0].role == "assistant"  # its first parent is not in the mapping
