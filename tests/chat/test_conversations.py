"""Conversation lifecycle, sending, options, models by role, totals and cost, feedback, XSS."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.chat.models import Conversation, FeedbackItem, Message, MessageOptions, ModelRequest
from app.extensions import db
from tests.chat.helpers import composer_token, last_answer, start_chat, wait_for_answer
from tests.conftest import count_queries
from tests.factories import demo_model, make_conversation, make_model, make_user


def count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def send(person, conversation, text, **fields):
    page = person.get(f"/chat/{conversation.id}").get_data(as_text=True)
    data = {"content": text, "client_request_id": composer_token(page), **fields}
    return person.post(f"/chat/{conversation.id}/messages", data, htmx=True)


def test_a_fresh_install_chats_with_the_offline_demo_model(login_as):
    person = login_as("user")
    page = person.get("/chat").get_data(as_text=True)
    assert "Studio demo (demo, offline)" in page
    conversation = start_chat(person, "Hello, Studio")
    answer = wait_for_answer(last_answer(conversation).id)
    assert answer.status == "complete"
    assert answer.content.startswith("You said: Hello, Studio")
    assert ("<strong>Studio&#39;s demo model</strong>" in answer.content_html
            or "<strong>Studio's demo model</strong>" in answer.content_html)
    html = person.get(f"/chat/{conversation.id}").get_data(as_text=True)
    assert "You said: Hello, Studio" in html


@pytest.mark.postgres
def test_conversation_lifecycle_rename_pin_archive_delete(login_as):
    person = login_as("user")
    conversation = start_chat(person, "Plan a trip to Lisbon\nwith details")
    wait_for_answer(last_answer(conversation).id)
    db.session.refresh(conversation)
    assert conversation.title == "Plan a trip to Lisbon"  # from the first message

    renamed = person.post(f"/chat/{conversation.id}/rename", {"title": "Lisbon, May"}, htmx=True)
    assert renamed.status_code == 200 and "Lisbon, May" in renamed.get_data(as_text=True)
    assert json.loads(renamed.headers["HX-Trigger"])["sidebar-changed"] is True
    empty = person.post(f"/chat/{conversation.id}/rename", {"title": "  "}, htmx=True)
    assert "A title cannot be empty." in empty.get_data(as_text=True)

    person.post(f"/chat/{conversation.id}/pin", {"pinned": "1"}, htmx=True)
    sidebar = person.get("/chat/sidebar").get_data(as_text=True)
    assert sidebar.index("Pinned") < sidebar.index("Lisbon, May") < sidebar.index("Recent")

    person.post(f"/chat/{conversation.id}/archive", {"archived": "1"}, htmx=True)
    assert "Lisbon, May" not in person.get("/chat/sidebar").get_data(as_text=True)

    conversation_id = conversation.id
    deleted = person.post(f"/chat/{conversation_id}/delete")
    assert deleted.status_code == 303
    assert person.get(f"/chat/{conversation_id}").status_code == 404
    assert count(Message, Message.conversation_id == conversation_id) == 0
    assert count(ModelRequest) == 1  # the record of the provider call stays, for cost


def test_messages_are_answered_in_order_with_history(login_as):
    person = login_as("user")
    conversation = start_chat(person, "first question")
    wait_for_answer(last_answer(conversation).id)
    response = send(person, conversation, "second question")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "second question" in html and 'sse-connect="/chat/' in html
    assert 'id="composer"' in html and 'hx-swap-oob="true"' in html  # a fresh, empty composer
    answer = wait_for_answer(last_answer(conversation).id)
    assert answer.content.startswith("You said: second question")
    roles = db.session.scalars(
        select(Message.role).where(Message.conversation_id == conversation.id).order_by(Message.id)).all()
    assert roles == ["user", "assistant", "user", "assistant"]


@pytest.mark.postgres
def test_double_submit_stores_one_message(login_as):
    person = login_as("user")
    conversation = start_chat(person, "hello")
    wait_for_answer(last_answer(conversation).id)
    page = person.get(f"/chat/{conversation.id}").get_data(as_text=True)
    data = {"content": "only once", "client_request_id": composer_token(page)}
    first = person.post(f"/chat/{conversation.id}/messages", data, htmx=True)
    second = person.post(f"/chat/{conversation.id}/messages", data, htmx=True)
    assert first.status_code == 200 and second.status_code == 204
    assert count(Message, Message.content == "only once") == 1
    wait_for_answer(last_answer(conversation).id)


@pytest.mark.postgres
def test_double_submit_of_a_new_chat_opens_one_conversation(login_as):
    person = login_as("user")
    token = composer_token(person.get("/chat").get_data(as_text=True))
    first = person.post("/chat", {"content": "new topic", "client_request_id": token})
    second = person.post("/chat", {"content": "new topic", "client_request_id": token})
    assert first.headers["Location"] == second.headers["Location"]
    assert count(Conversation) == 1
    wait_for_answer(last_answer(db.session.scalar(select(Conversation))).id)


@pytest.mark.postgres
def test_sending_while_an_answer_streams_is_refused_politely(login_as):
    person = login_as("user")
    conversation = start_chat(person, "[[echo:slow]] take your time")
    response = send(person, conversation, "impatient")
    assert response.status_code == 409
    assert "still being written" in json.loads(response.headers["HX-Trigger"])["toast"]["message"]
    person.post(f"/chat/{conversation.id}/stop", htmx=True)
    wait_for_answer(last_answer(conversation).id)


@pytest.mark.parametrize("field,value,message", [
    ("temperature", "2.5", "Temperature goes from 0 to 2."),
    ("temperature", "-0.1", "Temperature goes from 0 to 2."),
    ("top_p", "1.5", "Top p goes from 0 to 1."),
    ("max_tokens", "0", "Max tokens must be a whole number above 0."),
    ("frequency_penalty", "-3", "Frequency penalty goes from −2 to 2."),
    ("presence_penalty", "2.01", "Presence penalty goes from −2 to 2."),
    ("temperature", "warm", "Not a valid decimal value."),
])
def test_out_of_range_options_are_refused_with_a_message_and_the_text_is_kept(login_as, field, value, message):
    person = login_as("user")
    conversation = make_conversation(person.user, messages=2)
    response = send(person, conversation, "keep this text", **{field: value})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["HX-Retarget"] == "#composer"
    assert message in html and "keep this text" in html
    assert count(Message, Message.content == "keep this text") == 0


def test_valid_options_are_stored_with_the_answer(login_as):
    person = login_as("user")
    conversation = make_conversation(person.user, messages=2)
    send(person, conversation, "with options", temperature="0.7", top_p="0.9", max_tokens="50",
         frequency_penalty="-1.5", presence_penalty="2")
    answer = wait_for_answer(last_answer(conversation).id)
    options = db.session.scalar(select(MessageOptions).where(MessageOptions.message_id == answer.id))
    assert (options.temperature, options.top_p, options.max_tokens) == (Decimal("0.70"), Decimal("0.900"), 50)
    assert (options.frequency_penalty, options.presence_penalty) == (Decimal("-1.50"), Decimal("2.00"))


@pytest.mark.postgres
def test_the_database_refuses_out_of_range_options_too(app):
    user = make_user()
    conversation = make_conversation(user, messages=2)
    answer = db.session.scalar(
        select(Message).where(Message.conversation_id == conversation.id, Message.role == "assistant"))
    db.session.add(MessageOptions(message_id=answer.id, temperature=Decimal("3")))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_role_restricted_model_is_hidden_and_refused_even_when_posted_by_hand(login_as):
    staff_model = make_model("Staff only model", allowed_roles=["admin"])
    person = login_as("user")
    assert "Staff only model" not in person.get("/chat").get_data(as_text=True)
    token = composer_token(person.get("/chat").get_data(as_text=True))
    response = person.post("/chat", {"content": "let me in", "client_request_id": token,
                                      "model_id": str(staff_model.id)})
    assert response.status_code == 403
    conversation = make_conversation(person.user, messages=2)
    assert send(person, conversation, "let me in", model_id=str(staff_model.id)).status_code == 403
    assert person.post(f"/chat/{conversation.id}/regenerate", {"model_id": str(staff_model.id)}).status_code == 403
    assert count(Message, Message.content == "let me in") == 0
    assert count(ModelRequest) == 0
    admin = login_as("admin")
    assert "Staff only model" in admin.get("/chat").get_data(as_text=True)


def test_inactive_model_cannot_be_used(login_as):
    retired = make_model("Retired", active=False)
    person = login_as("user")
    token = composer_token(person.get("/chat").get_data(as_text=True))
    response = person.post("/chat", {"content": "hi", "client_request_id": token, "model_id": str(retired.id)})
    assert response.status_code == 404


@pytest.mark.postgres
def test_usage_cost_and_totals_are_recorded_exactly(login_as):
    priced = make_model("Priced demo", prices=("1.25", "10", "0.125"))
    person = login_as("user")
    conversation = start_chat(person, "count my tokens", model_id=str(priced.id))
    first = wait_for_answer(last_answer(conversation).id)
    send(person, conversation, "and again", model_id=str(priced.id))
    second = wait_for_answer(last_answer(conversation).id)
    calls = db.session.scalars(select(ModelRequest).where(ModelRequest.chat_id == conversation.id)).all()
    assert len(calls) == 2 and all(c.status == "success" and c.provider == "echo" for c in calls)
    for call, answer in zip(sorted(calls, key=lambda c: c.requested_at), (first, second), strict=True):
        expected = ((Decimal(call.input_tokens) * Decimal("1.25") + Decimal(call.output_tokens) * 10)
                    / Decimal(1_000_000))
        assert call.total_cost_usd == expected.quantize(Decimal("0.0000000001"))
        assert call.input_cost_usd + call.output_cost_usd == call.total_cost_usd
        assert answer.cost_usd == call.total_cost_usd and answer.output_tokens == call.output_tokens
        assert call.latency_ms is not None and call.time_to_first_token_ms is not None
        assert call.time_to_first_token_ms <= call.latency_ms
    db.session.refresh(conversation)
    assert conversation.message_count == 4
    assert conversation.total_tokens == sum(c.total_tokens for c in calls)
    assert conversation.total_cost_usd == sum(c.total_cost_usd for c in calls)
    html = person.get(f"/chat/{conversation.id}").get_data(as_text=True)
    assert f"{second.input_tokens} in · {second.output_tokens} out" in html
    account = person.get("/account").get_data(as_text=True)
    assert "Usage this month" in account and f"${sum(c.total_cost_usd for c in calls):.4f}" in account


def test_a_failing_provider_keeps_the_partial_text_and_offers_retry(login_as):
    person = login_as("user")
    conversation = start_chat(person, "please [[echo:fail]] now")
    answer = wait_for_answer(last_answer(conversation).id)
    answer_id = answer.id
    assert answer.status == "failed"
    assert answer.content.startswith("You said:")  # what came before the error is kept
    assert answer.error_message == "The demo model was asked to fail."
    call = db.session.scalar(select(ModelRequest).where(ModelRequest.message_id == answer.id))
    assert call.status == "error" and call.error_code == "server_error"
    html = person.get(f"/chat/{conversation.id}").get_data(as_text=True)
    assert "This answer failed." in html and "The demo model was asked to fail." in html and ">Retry<" in html
    retried = person.post(f"/chat/{conversation.id}/regenerate", {"model_id": str(answer.model_id)}, htmx=True)
    assert retried.status_code == 200
    again = wait_for_answer(last_answer(conversation).id)
    assert again.id != answer_id and again.status == "failed"  # the marker is still in the message
    assert count(Message, Message.conversation_id == conversation.id, Message.superseded_by_id.is_(None)) == 2
    assert db.session.get(Message, answer_id).superseded_by_id == again.id  # the failed try is kept


def test_regenerate_gives_a_new_answer_and_keeps_the_old_one_as_previous_version(login_as):
    person = login_as("user")
    conversation = start_chat(person, "tell me something")
    first = wait_for_answer(last_answer(conversation).id)
    first_id = first.id
    person.post(f"/chat/{conversation.id}/regenerate", {"model_id": str(first.model_id)}, htmx=True)
    second = wait_for_answer(last_answer(conversation).id)
    kept = db.session.get(Message, first_id)
    assert second.id != first_id and kept.superseded_by_id == second.id and kept.superseded_at is not None
    db.session.refresh(conversation)
    current = count(Message, Message.conversation_id == conversation.id, Message.superseded_by_id.is_(None))
    assert conversation.message_count == current == 2


def test_editing_the_last_message_resends_it(login_as):
    person = login_as("user")
    conversation = start_chat(person, "typo in here")
    wait_for_answer(last_answer(conversation).id)
    response = person.post(f"/chat/{conversation.id}/edit", {"content": "fixed text", "model_id": str(demo_model().id)},
                           htmx=True)
    assert response.status_code == 200
    answer = wait_for_answer(last_answer(conversation).id)
    assert answer.content.startswith("You said: fixed text")
    contents = db.session.scalars(select(Message.content).where(
        Message.conversation_id == conversation.id, Message.role == "user", Message.superseded_by_id.is_(None))).all()
    assert contents == ["fixed text"]
    originals = db.session.scalars(select(Message.content).where(
        Message.conversation_id == conversation.id, Message.superseded_by_id.is_not(None)).order_by(Message.id)).all()
    assert originals[0] == "typo in here" and originals[1].startswith("You said: typo in here")


def test_feedback_up_then_down_with_a_comment(login_as):
    person = login_as("user")
    conversation = start_chat(person, "rate me")
    answer = wait_for_answer(last_answer(conversation).id)
    up = person.post(f"/chat/{conversation.id}/messages/{answer.id}/feedback", {"category": "up"}, htmx=True)
    assert up.status_code == 200 and 'aria-pressed="true"' in up.get_data(as_text=True)
    person.post(f"/chat/{conversation.id}/messages/{answer.id}/feedback",
                {"category": "down", "comment": "too short"}, htmx=True)
    items = db.session.scalars(select(FeedbackItem)).all()
    assert [(i.category, i.content) for i in items] == [("down", "too short")]
    assert items[0].model_request_id is not None
    assert person.post(f"/chat/{conversation.id}/messages/{answer.id}/feedback", {"category": "meh"}).status_code == 422


def test_message_size_limit_is_enforced_with_a_message(login_as):
    person = login_as("user")
    conversation = make_conversation(person.user, messages=2)
    response = send(person, conversation, "x" * 32_001)
    assert "at most 32,000 characters" in response.get_data(as_text=True)


XSS = '<script>alert(1)</script><img src=x onerror=alert(2)>[link](javascript:alert(3))'


def test_script_in_messages_titles_and_model_output_is_inert(login_as):
    person = login_as("user")
    conversation = start_chat(person, XSS)  # the demo model repeats it back: model output too
    wait_for_answer(last_answer(conversation).id)
    pages = [person.get(f"/chat/{conversation.id}").get_data(as_text=True),
             person.get("/chat/sidebar").get_data(as_text=True),
             person.get("/chat").get_data(as_text=True)]
    for html in pages:
        assert "<script>alert" not in html and "onerror=alert" not in html.replace("onerror=alert(2)&gt;", "")
        assert 'href="javascript:' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0]  # the user's text, shown as text
    assert "<title>&lt;script&gt;" in pages[0]  # the title came from the message, escaped


@pytest.mark.postgres
def test_sidebar_pages_by_keyset_with_constant_queries(app, login_as):
    person = login_as("user")
    for number in range(35):
        make_conversation(person.user, title=f"Topic {number:02d}")
    first = person.get("/chat/sidebar").get_data(as_text=True)
    assert "Topic 34" in first and "Topic 04" not in first and "intersect once" in first
    cursor = first.split("cursor=", 1)[1].split("&", 1)[0].split('"', 1)[0]
    second = person.get(f"/chat/sidebar?cursor={cursor}").get_data(as_text=True)
    assert "Topic 04" in second and "Topic 00" in second and "Topic 34" not in second
    assert "intersect once" not in second
    assert person.get("/chat/sidebar?cursor=garbage").status_code == 422
    with count_queries(app) as queries:
        person.get("/chat/sidebar")
    for _ in range(40):
        make_conversation(person.user)
    with count_queries(app) as more_queries:
        person.get("/chat/sidebar")
    assert len(queries) == len(more_queries) <= 4  # sign-in (2), the sidebar in one, the folders


@pytest.mark.postgres
def test_long_conversation_shows_the_last_50_and_loads_earlier(app, login_as):
    person = login_as("user")
    conversation = make_conversation(person.user, messages=120)
    html = person.get(f"/chat/{conversation.id}").get_data(as_text=True)
    assert "Message 119 from" in html and "Message 70 from" in html and "Message 69 from" not in html
    assert "Load earlier messages" in html
    before = html.split("before=", 1)[1].split('"', 1)[0]
    earlier = person.get(f"/chat/{conversation.id}?before={before}",
                         headers={"HX-Request": "true", "HX-Target": "load-earlier"}).get_data(as_text=True)
    assert "Message 69 from" in earlier and "Message 20 from" in earlier and "Message 70 from" not in earlier
    assert "<html" not in earlier
    small_conversation = make_conversation(person.user, messages=10)
    small_path, large_path = f"/chat/{small_conversation.id}", f"/chat/{conversation.id}"  # not counted
    with count_queries(app) as small:
        person.get(small_path)
    with count_queries(app) as large:
        person.get(large_path)
    # A constant number, whatever the length: sign-in, the conversation, the model picker, billing's
    # choices and banner, the sidebar, the folders, the messages with their ratings, the navigation
    # (tests/chat/test_page_cost.py pins chat's own statements one by one).
    assert len(small) == len(large) <= 9
