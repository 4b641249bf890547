"""Importing through the page: what lands in the database, the report, and files refused whole."""
from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.chat import services as chat_services
from app.chat.models import Conversation, Message
from app.extensions import db
from app.jobs import runner
from app.jobs.models import Job
from tests.factories import make_conversation
from tests.helpers.markup import live_markup
from tests.shared_testdata import shared_file

pytestmark = pytest.mark.postgres  # all-or-nothing writes and stored timestamps

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MB = 1024 * 1024


def upload(person, data: bytes, name: str = "conversations.json", **extra):
    """The upload's own answer: a 303 to the progress page, or the form with a refusal."""
    return person.post("/chat/import", {"file": (BytesIO(data), name), **extra},
                       content_type="multipart/form-data")


def import_file(person, data: bytes, name: str = "conversations.json"):
    """Upload, run the queued import here, and return the progress page (now the report)."""
    response = upload(person, data, name)
    assert response.status_code == 303, text_of(response)[:500]
    runner.run_pending()
    return person.get(response.headers["Location"])


def conversations_of(user) -> list[Conversation]:
    return list(db.session.scalars(select(Conversation).where(Conversation.user_id == user.id)
                                   .order_by(Conversation.created_at)))


def messages_of(conversation) -> list[Message]:
    return list(db.session.scalars(select(Message).where(Message.conversation_id == conversation.id)
                                   .order_by(Message.id)))


def message_total() -> int:
    return db.session.scalar(select(func.count()).select_from(Message))


def text_of(response) -> str:
    return response.get_data(as_text=True)


def a_chat(title: str, texts=("Hello", "Hi")) -> dict:
    mapping, parent = {}, None
    for number, text in enumerate(texts):
        mapping[f"n{number}"] = {"id": f"n{number}", "parent": parent, "message": {
            "author": {"role": "user" if number % 2 == 0 else "assistant"}, "create_time": 1_700_000_000 + number,
            "content": {"content_type": "text", "parts": [text]}}}
        parent = f"n{number}"
    return {"title": title, "create_time": 1_700_000_000, "mapping": mapping, "current_node": parent}


def test_the_import_page_has_a_labelled_file_field(login_as):
    page = login_as("user").get("/chat/import")
    html = text_of(page)
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in html and 'name="csrf_token"' in html
    assert re.search(r'<label[^>]*for="file"[^>]*>File to import</label>', html)


def test_chatgpt_export_imports_its_main_branches_with_titles_and_dates(login_as):
    person = login_as("user")
    response = import_file(person, (FIXTURES / "chatgpt-conversations.json").read_bytes())
    assert response.status_code == 200, text_of(response)[:500]
    lisbon, hostile, undated = conversations_of(person.user)
    assert lisbon.title == "Lisbon neighbourhoods for a week"
    assert lisbon.created_at == datetime(2024, 6, 13, 9, 0, tzinfo=UTC)
    assert lisbon.message_count == 6 and lisbon.last_activity_at == datetime(2024, 6, 13, 9, 5, tzinfo=UTC)
    messages = messages_of(lisbon)
    assert [m.role for m in messages] == ["user", "assistant"] * 3
    assert messages[2].content == "Which one is quiet but still close to the tram lines?"
    assert messages[3].content.startswith("Príncipe Real")
    assert messages[0].created_at == datetime(2024, 6, 13, 9, 0, 1, 250000, tzinfo=UTC)
    assert messages[1].parts[-1] == {"type": "data", "data_content": {"imported_model": "gpt-4o"}}
    assert hostile.title == "<img src=x onerror=alert('title')> Safe HTML?"
    assert undated.title == "Good morning in Dutch" and undated.created_at.year >= 2025  # dated at import


def test_the_report_links_what_was_imported_and_explains_what_was_skipped(login_as):
    person = login_as("user")
    html = text_of(import_file(person, (FIXTURES / "chatgpt-conversations.json").read_bytes()))
    assert "Imported 3 conversations (10 messages) from a ChatGPT export" in html
    for conversation in conversations_of(person.user):
        assert f'href="/chat/{conversation.id}"' in html
    assert "Left out: 1 system message, 1 tool message, 1 message addressed to a tool, 1 hidden message." in html
    assert "Skipped 2 conversations" in html
    assert "Conversation 4: “Half-written entry”" in html and "It has no messages (its “mapping” is missing" in html
    assert "Conversation 5: “Tool chatter”" in html and "Its main branch has no text from you or the assistant." in html
    assert "&lt;img src=x onerror=alert(&#39;title&#39;)&gt; Safe HTML?" in html  # the title, escaped


def test_script_in_imported_text_is_stored_as_text_and_renders_inert(login_as):
    person = login_as("user")
    report = text_of(import_file(person, (FIXTURES / "chatgpt-conversations.json").read_bytes()))
    assert live_markup(report) == []
    hostile = next(c for c in conversations_of(person.user) if "Safe HTML" in c.title)
    question, answer = messages_of(hostile)
    assert question.content == "What does <script>alert('owned')</script> do in a page?"
    assert "<script>document.title='owned'</script>" in answer.content
    page = person.get(f"/chat/{hostile.id}")
    html = text_of(page)
    assert page.status_code == 200
    assert live_markup(html) == []
    assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in html  # shown, not run


def test_a_studio_export_fixture_imports(login_as):
    person = login_as("user")
    html = text_of(import_file(person, (FIXTURES / "studio-export-v1.json").read_bytes(), "studio.json"))
    assert "Imported 1 conversation (4 messages) from a Studio export" in html
    (sourdough,) = conversations_of(person.user)
    assert sourdough.system_prompt  # the system prompt comes along
    assert sourdough.model is not None and sourdough.model.model_id == "echo-1"  # matched in the registry
    assert [m.created_at.isoformat() for m in messages_of(sourdough)] == [
        "2025-03-01T18:02:11.500000+00:00", "2025-03-01T18:02:14.250000+00:00",
        "2025-03-01T18:05:30+00:00", "2025-03-01T18:05:40+00:00"]


def test_the_real_combined_chatgpt_export_imports(login_as):
    sample = shared_file("chatgpt-export/conversations.json")
    person = login_as("user")
    html = text_of(import_file(person, sample.read_bytes()))
    assert "Imported 6 conversations (28 messages) from a ChatGPT export" in html
    assert [c.title for c in conversations_of(person.user)][:2] == ["Conversation 2", "Conversation 1. Web Search"]


HOSTILE_FILES = {
    "empty": (b"", "The file is empty."),
    "binary": (bytes(range(256)) * 4, "binary file"),
    "not utf-8": (b'[{"title": "\xff\xfe"}]', "not UTF-8 text"),
    "not json": (b"title,messages\nhello,world\n", "not valid JSON"),
    "deeply nested": (b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
    "wrong shape": (b'{"conversations": "yes"}', "neither ChatGPT"),
    "wrong types": (b'[{"title": 1, "mapping": [1, 2], "current_node": {}}]', None),
}


@pytest.mark.parametrize("name", HOSTILE_FILES)
def test_hostile_files_are_refused_cleanly_and_write_nothing(login_as, name):
    data, expected = HOSTILE_FILES[name]
    person = login_as("user")
    before = message_total()
    response = upload(person, data)
    if expected:
        html = text_of(response)
        assert response.status_code == 422 and "Nothing was imported." in html and expected in html
        assert db.session.scalar(select(func.count()).select_from(Job)) == 0  # no job, no stored file
    else:
        runner.run_pending()
        html = text_of(person.get(response.headers["Location"]))
        assert "Nothing was imported from a ChatGPT export" in html and "Skipped 1 conversation" in html
    assert conversations_of(person.user) == [] and message_total() == before
    assert 'type="file"' in html  # the form is there to try again


def test_the_upload_answers_with_a_progress_page_that_polls_until_done(login_as):
    person = login_as("user")
    response = upload(person, json.dumps([a_chat(f"Chat {n}") for n in range(3)]).encode())
    assert response.status_code == 303
    page = person.get(response.headers["Location"])
    html = text_of(page)
    assert "Waiting to start" in html and 'hx-trigger="every 1s"' in html and "Cancel import" in html
    poll = person.get(response.headers["Location"], headers={"HX-Request": "true", "HX-Target": "import-progress"})
    assert text_of(poll).lstrip().startswith('<div id="import-progress"') and "<html" not in text_of(poll)
    runner.run_pending()
    html = text_of(person.get(response.headers["Location"]))
    assert "Imported 3 conversations (6 messages)" in html and "every 1s" not in html


def test_a_failed_batch_is_retried_and_the_import_completes_without_duplicates(login_as, app, monkeypatch):
    app.config.update(IMPORT_BATCH_SIZE=2, JOBS_RETRY_BASE_SECONDS=0)
    person = login_as("user")
    make_conversation(person.user, title="Already here", messages=2)
    real = chat_services.add_imported_conversation
    calls = []

    def fails_on_the_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("the database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(chat_services, "add_imported_conversation", fails_on_the_third)
    html = text_of(import_file(person, json.dumps([a_chat(f"Chat {n}") for n in range(5)]).encode()))
    assert "Imported 5 conversations" in html
    assert sorted(c.title for c in conversations_of(person.user)) == ["Already here"] + [f"Chat {n}" for n in range(5)]
    assert len(calls) == 6  # the failed batch's first conversation was written again, nothing else


def test_importing_the_same_file_again_adds_nothing(login_as):
    person = login_as("user")
    data = (FIXTURES / "chatgpt-conversations.json").read_bytes()
    import_file(person, data)
    before = message_total()
    html = text_of(import_file(person, data))
    assert "Nothing new in a ChatGPT export" in html
    assert "3 conversations were already imported, so they were not added again." in html
    assert len(conversations_of(person.user)) == 3 and message_total() == before


def test_an_interrupted_import_resumes_when_the_file_is_uploaded_again(login_as, app, monkeypatch):
    app.config.update(IMPORT_BATCH_SIZE=2, JOBS_STALE_SECONDS=0)
    person = login_as("user")
    data = json.dumps([a_chat(f"Chat {n}") for n in range(7)]).encode()
    from app.transfer import services
    real, batches = services.render_answers, []

    def killed_in_the_third_batch(conversations):
        batches.append(1)
        if len(batches) == 3:
            raise KeyboardInterrupt  # like a killed process: no handler runs, the row stays "running"
        return real(conversations)

    monkeypatch.setattr(services, "render_answers", killed_in_the_third_batch)
    first = upload(person, data)
    with pytest.raises(KeyboardInterrupt):
        runner.run_pending()
    db.session.rollback()
    assert len(conversations_of(person.user)) == 4
    (job,) = db.session.scalars(select(Job)).all()
    assert job.status == "running" and job.progress["position"] == 4
    again = upload(person, data)
    assert again.headers["Location"] == first.headers["Location"]  # the same import, resumed
    runner.run_pending()
    html = text_of(person.get(again.headers["Location"]))
    assert "Imported 7 conversations" in html
    assert sorted(c.title for c in conversations_of(person.user)) == [f"Chat {n}" for n in range(7)]


def test_cancelling_keeps_what_was_written_and_says_so(login_as, app, monkeypatch):
    app.config.update(IMPORT_BATCH_SIZE=2)
    person = login_as("user")
    checks = []

    def cancelled_after_two_batches(self):
        checks.append(1)
        return len(checks) > 2

    monkeypatch.setattr(runner.JobContext, "is_cancel_requested", cancelled_after_two_batches)
    html = text_of(import_file(person, json.dumps([a_chat(f"Chat {n}") for n in range(7)]).encode()))
    assert "Import cancelled." in html and "4 conversations imported before you cancelled were kept" in html
    assert len(conversations_of(person.user)) == 4


def test_cancelling_a_waiting_import_stops_it(login_as):
    person = login_as("user")
    response = upload(person, json.dumps([a_chat("Never")]).encode())
    page = person.get(response.headers["Location"])
    cancel = person.post(response.headers["Location"] + "/cancel")
    assert page.status_code == 200 and cancel.status_code == 303
    runner.run_pending()
    html = text_of(person.get(response.headers["Location"]))
    assert "Import cancelled." in html and conversations_of(person.user) == []


def test_someone_elses_import_is_not_found(login_as):
    owner, other = login_as("user"), login_as("user")
    location = upload(owner, json.dumps([a_chat("Mine")]).encode()).headers["Location"]
    assert other.get(location).status_code == 404
    assert other.post(location + "/cancel").status_code == 404


def test_files_over_the_import_limit_are_refused_with_413(login_as, app):
    app.config["IMPORT_MAX_BYTES"] = 3 * MB
    person = login_as("user")
    response = upload(person, b"[" + b" " * (4 * MB) + b"]")
    assert response.status_code == 413
    html = text_of(response)
    assert "larger than 3 MB" in html and "Nothing was imported." in html
    assert conversations_of(person.user) == []


def test_files_above_the_app_wide_limit_are_read_by_the_job(login_as, app):
    assert app.config["MAX_CONTENT_LENGTH"] < 3 * MB
    person = login_as("user")
    padding = "x" * 31_000
    chats = [a_chat(f"Chat {n}", texts=[f"Question {n} {padding}", f"Answer {n}"]) for n in range(160)]
    data = json.dumps(chats).encode()
    assert 4 * MB < len(data) < 20 * MB
    response = import_file(person, data)
    assert response.status_code == 200 and "Imported 160 conversations" in text_of(response)
    assert len(conversations_of(person.user)) == 160


def test_the_per_person_conversation_limit_skips_the_rest_with_a_reason(login_as, app):
    app.config["MAX_CONVERSATIONS_PER_USER"] = 3
    person = login_as("user")
    make_conversation(person.user, title="Mine", messages=2)
    html = text_of(import_file(person, json.dumps([a_chat(f"Chat {n}") for n in range(4)]).encode()))
    assert "Imported 2 conversations" in html and "Skipped 2 conversations" in html
    assert "You already hold 3 conversations, the most one person can keep." in html
    assert len(conversations_of(person.user)) == 3


def test_long_texts_and_titles_are_cut_and_reported(login_as):
    person = login_as("user")
    chat = a_chat("T" * 500, texts=["x" * (chat_services.MAX_MESSAGE_CHARS + 10), "fine"])
    html = text_of(import_file(person, json.dumps([chat]).encode()))
    assert "Its title was cut to 200 characters." in html
    assert "1 message was longer than 32,000 characters and was cut there." in html
    (conversation,) = conversations_of(person.user)
    assert len(conversation.title) == 200
    assert len(messages_of(conversation)[0].content) == chat_services.MAX_MESSAGE_CHARS


def test_without_a_file_the_form_says_so(login_as):
    person = login_as("user")
    response = person.post("/chat/import", {})
    assert response.status_code == 422 and "Choose a file to import." in text_of(response)


def test_import_needs_the_csrf_token(login_as):
    person = login_as("user")
    upload = (BytesIO(json.dumps([a_chat("x")]).encode()), "c.json")
    response = person.client.post("/chat/import", data={"file": upload}, content_type="multipart/form-data")
    assert response.status_code == 400 and "Reload the page" in text_of(response)
    assert conversations_of(person.user) == []


def test_signed_out_visitors_are_sent_to_sign_in(client):
    for response in (client.get("/chat/import"), client.post("/chat/import", data={})):
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_imported_conversations_belong_to_the_importer_only(login_as):
    owner, other = login_as("user"), login_as("user")
    import_file(owner, json.dumps([a_chat("Mine")]).encode())
    (mine,) = conversations_of(owner.user)
    assert other.get(f"/chat/{mine.id}").status_code == 404
    assert conversations_of(other.user) == []
