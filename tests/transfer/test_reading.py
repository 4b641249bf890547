"""Reading an uploaded file: what is refused whole (and the message that says why), the limits, and
Studio's own format. Pure: no database."""
from __future__ import annotations

import json
import zipfile
from io import BytesIO
from pathlib import Path

import pytest

from app.transfer import reader, services
from app.transfer.records import ImportRefused

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def refused(data: bytes) -> str:
    with pytest.raises(ImportRefused) as caught:
        services.read_export(data)
    return caught.value.message


def chat(title="Chat", texts=("Hello", "Hi")) -> dict:
    """A small valid ChatGPT conversation with a chain of user/assistant messages."""
    mapping, parent = {}, None
    for number, text in enumerate(texts):
        key = f"n{number}"
        mapping[key] = {"id": key, "parent": parent, "message": {
            "author": {"role": "user" if number % 2 == 0 else "assistant"}, "create_time": 1_700_000_000 + number,
            "content": {"content_type": "text", "parts": [text]}}}
        parent = key
    return {"title": title, "create_time": 1_700_000_000, "mapping": mapping, "current_node": parent}


@pytest.mark.parametrize("data, expected", [
    (b"", "The file is empty."),
    (b"   \n\t ", "The file is empty."),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
    ('[{"title": "caf\u00e9"}]'.encode("utf-16"), "binary file"),
    (b'[{"title": "caf\xe9"}]', "not UTF-8 text (the byte at position 15"),
    (b"<html><body>Export</body></html>", "not valid JSON (the reader says: lexical error"),
    (b'[{"title": "cut', "not valid JSON"),
    (b'[{"title": "x"}] trailing', "not valid JSON"),
    (b'{"mapping": NaN}', "not valid JSON"),
    (b"[" + b"9" * 5000 + b"]", "not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'{"a":' * 70 + b"1" + b"}" * 70, "nested too deeply"),
    (b"[" + b"{}," * 1_000_000 + b"{}]", "more separate objects and lists than any conversation export"),
    (b"[]", "empty list"),
    (b'{"hello": "world"}', "neither ChatGPT's conversations.json nor a Studio JSON export"),
    (b"[1, 2, 3]", "neither ChatGPT's"),
    (b'"just a string"', "neither ChatGPT's"),
    (b"null", "neither ChatGPT's"),
])
def test_unreadable_files_are_refused_with_a_reason(data, expected):
    assert expected in refused(data)


def test_a_zip_archive_is_refused_before_anything_is_unpacked():
    archive = BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("conversations.json", b"[" + b" " * 10_000_000 + b"]")  # would expand to 10 MB
    message = refused(archive.getvalue())
    assert "zip archive" in message and "conversations.json" in message


def test_a_byte_order_mark_is_accepted():
    parsed = services.read_export(b"\xef\xbb\xbf" + json.dumps([chat()]).encode())
    assert len(parsed.conversations) == 1


def test_over_the_size_limit_is_refused_while_the_bytes_pass():
    with pytest.raises(ImportRefused) as caught:
        reader.check_bytes(BytesIO(b" " * (3 * 1024 * 1024)), max_bytes=2 * 1024 * 1024)
    assert "larger than 2 MB" in caught.value.message


def test_thousands_of_conversations_are_read_one_at_a_time():
    data = json.dumps([chat(f"Chat {n}") for n in range(3_000)]).encode()
    shape = reader.scan(BytesIO(data))
    assert (shape.kind, shape.total) == ("chatgpt", 3_000)
    positions = [position for position, _ in reader.conversations(BytesIO(data), shape, start_at=2_990)]
    assert positions == list(range(2_991, 3_001))  # resuming skips what was done without building it


def test_a_conversation_too_large_to_hold_is_skipped_not_built(monkeypatch):
    monkeypatch.setattr(reader, "MAX_ITEM_CONTAINERS", 50)
    data = json.dumps([chat("Small"), chat("Big", texts=[f"m{i}" for i in range(40)]), chat("After")]).encode()
    parsed = services.read_export(data)
    assert [c.title for c in parsed.conversations] == ["Small", "After"]
    assert parsed.skipped[0].label == "Conversation 2" and "larger than any conversation" in parsed.skipped[0].reason


def test_a_single_conversation_object_is_read():
    parsed = services.read_export(json.dumps(chat("Alone")).encode())
    assert [c.title for c in parsed.conversations] == ["Alone"]


def test_source_ids_are_the_file_ids_or_a_content_hash():
    assert services.source_id_of("chatgpt", {"conversation_id": "abc-1", "id": "x"}) == "chatgpt:abc-1"
    assert services.source_id_of("studio", {"id": "0190-aa"}) == "studio:0190-aa"
    hashed = services.source_id_of("chatgpt", chat("No id"))
    assert hashed.startswith("sha256:") and hashed == services.source_id_of("chatgpt", chat("No id"))
    assert hashed != services.source_id_of("chatgpt", chat("Another"))
    assert services.source_id_of("chatgpt", {"id": "x" * 500}).startswith("sha256:")


def test_script_in_text_is_kept_as_text():
    export = [chat("<script>x</script>", ["<script>alert(1)</script>", "ok"])]
    parsed = services.read_export(json.dumps(export).encode())
    assert parsed.conversations[0].title == "<script>x</script>"
    assert parsed.conversations[0].messages[0].content == "<script>alert(1)</script>"


# --- Studio's own format ---------------------------------------------------------------------------

def test_studio_fixture_is_recognised_by_its_format_marker():
    parsed = services.read_export((FIXTURES / "studio-export-v1.json").read_bytes())
    assert parsed.source == "a Studio export"
    (sourdough,) = parsed.conversations
    assert sourdough.title == "Sourdough starter schedule"
    assert [m.role for m in sourdough.messages] == ["user", "assistant", "user", "assistant"]
    assert sourdough.messages[1].content.endswith("```text\n08:00 feed\n20:00 feed\n```")
    assert sourdough.messages[1].model_name == "Echo (demo)"
    assert sourdough.messages[1].created_at.isoformat() == "2025-03-01T18:02:14.250000+00:00"
    assert (sourdough.model_provider, sourdough.model_id) == ("echo", "echo-1")
    assert "Left out: 1 empty message." in sourdough.notes
    assert sourdough.system_prompt


@pytest.mark.parametrize("document, expected", [
    ({"format": "studio-export"}, "no readable format version"),
    ({"format": "studio-export", "version": "1"}, "no readable format version"),
    ({"format": "studio-export", "version": True}, "no readable format version"),
    ({"format": "studio-export", "version": 2, "conversations": []}, "made by a newer Studio (format version 2)"),
    ({"format": "studio-export", "version": 1}, "no list of conversations"),
    ({"format": "studio-export", "version": 1, "conversations": {}}, "no list of conversations"),
    ({"format": "studio-export", "version": 1, "conversations": []}, "holds no conversations"),
])
def test_studio_files_with_a_bad_header_are_refused(document, expected):
    assert expected in refused(json.dumps(document).encode())


def test_studio_entries_with_wrong_types_are_skipped_or_cleaned():
    good = {"title": "Good", "created_at": "2025-01-01T10:00:00Z",
            "messages": [{"role": "user", "content": "Hi", "created_at": "2025-01-01T10:00:01+02:00"},
                         {"role": "assistant", "content": 5}, {"role": "hacker", "content": "x"},
                         {"role": "assistant", "content": "Hello", "created_at": "not a date"}, "junk"]}
    document = {"format": "studio-export", "version": 1, "conversations": [
        good, "junk", {"title": "No messages", "messages": "nope"}, {"title": "Only system", "messages": [
            {"role": "system", "content": "Be nice"}]}]}
    parsed = services.read_export(json.dumps(document).encode())
    (only,) = parsed.conversations
    assert [(m.role, m.content) for m in only.messages] == [("user", "Hi"), ("assistant", "Hello")]
    assert only.messages[0].created_at.isoformat() == "2025-01-01T08:00:01+00:00"
    assert only.messages[1].created_at == only.messages[0].created_at  # an unreadable date takes the one before
    assert "Left out: 3 unreadable messages." in only.notes
    assert [(s.label, s.reason) for s in parsed.skipped] == [
        ("Conversation 2", "it is not a conversation (an object with a title and messages)"),
        ("Conversation 3: “No messages”", "it has no list of messages"),
        ("Conversation 4: “Only system”", "it has no messages from you or the assistant"),
    ]


def test_download_names_cannot_carry_a_path_or_a_quote():
    assert services.download_names('../../etc/passwd "x"\r\nSet-Cookie: a=b', "md") == (
        "etc-passwd-x-set-cookie-a-b.md", "etc passwd x Set-Cookie a=b.md")
    assert services.download_names("Résumé: ünïcode — 日本語", "json") == (
        "resume-unicode.json", "Résumé ünïcode — 日本語.json")
    assert services.download_names("日本語", "md") == ("conversation.md", "日本語.md")
    assert services.download_names("...", "md") == ("conversation.md", "conversation.md")
    header = services.content_disposition(*services.download_names('a"b/日本', "md"))
    assert header == "attachment; filename=\"a-b.md\"; filename*=UTF-8''a%20b%20%E6%97%A5%E6%9C%AC.md"
