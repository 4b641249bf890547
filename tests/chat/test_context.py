"""Conversation context that fits the model: the newest history within the model's window, the
system prompt always, what was left out told on the answer, an optional running summary, and one
trimmed retry when the provider still says the request is too long."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.chat import services
from app.chat.context import QUESTION_TOO_LONG, TOO_LONG_AFTER_RETRY, calibration_factor
from app.chat.models import Conversation, ConversationSummary, Message, ModelRequest
from app.chat.services import GenerationOptions
from app.chat.streaming import generate_answer
from app.extensions import db
from app.models.base import utcnow
from tests.conftest import count_queries
from tests.factories import make_model, make_user
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.server import count_tokens

SYSTEM_PROMPT = "You are a careful assistant. Keep answers short."


@pytest.fixture(params=["openai", "anthropic"])
def fake(request):
    """A running fake of one provider that enforces a context window and reports counted input tokens."""
    server_class = FakeOpenAIServer if request.param == "openai" else FakeAnthropicServer
    with server_class() as server:
        server.provider = request.param
        yield server


def model_on(server, *, context_window: int, max_tokens: int, name: str = "Fake", prices=(0, 0, 0), **fields):
    model = make_model(name, provider=server.provider, base_url=server.base_url, max_tokens=max_tokens, prices=prices)
    model.context_window = context_window
    for key, value in fields.items():
        setattr(model, key, value)
    db.session.commit()
    return model


def long_conversation(user, model, messages: int, chars: int = 200, **fields) -> Conversation:
    """A finished conversation of `messages` messages of about `chars` characters, each naming its number."""
    conversation = Conversation(user_id=user.id, title="Long", model_id=model.id, message_count=messages, **fields)
    db.session.add(conversation)
    db.session.flush()
    start = utcnow() - timedelta(hours=1)
    for number in range(messages):
        role = "user" if number % 2 == 0 else "assistant"
        text = f"m{number:04d} " + "lorem ipsum " * (chars // 12)
        db.session.add(Message(conversation_id=conversation.id, user_id=user.id, role=role, content=text,
                               content_html=text, status="complete", created_at=start + timedelta(seconds=number)))
    db.session.commit()
    return conversation


def answer(user, conversation, model, text: str = "And what now?") -> Message:
    """Send a message and write its answer here (the generator the route would start in a thread)."""
    _, assistant = services.send_message(user, conversation, model.id, text, GenerationOptions(), None)
    assistant_id = assistant.id
    generate_answer(assistant_id)
    db.session.expire_all()
    return db.session.get(Message, assistant_id)


def sent_messages(server, index: int = -1) -> tuple[str | None, list[dict]]:
    """(system prompt, messages) of a request the fake received, whichever provider it plays."""
    body = server.requests[index].body
    if server.provider == "anthropic":
        return body.get("system"), body["messages"]
    system = [m["content"] for m in body["messages"] if m["role"] == "system"]
    return ("\n\n".join(system) or None), [m for m in body["messages"] if m["role"] != "system"]


def calls_of(conversation, task_type: str = "chat") -> list[ModelRequest]:
    return list(db.session.scalars(select(ModelRequest).where(
        ModelRequest.chat_id == conversation.id, ModelRequest.task_type == task_type)
        .order_by(ModelRequest.requested_at)))


def test_a_conversation_longer_than_the_window_gets_an_answer_with_the_newest_messages_and_the_system_prompt(
        app, login_as, fake):
    fake.scenario.context_window = 1000
    model = model_on(fake, context_window=1000, max_tokens=100)
    person = login_as("user")
    conversation = long_conversation(person.user, model, 60, system_prompt=SYSTEM_PROMPT)

    reply = answer(person.user, conversation, model)

    assert reply.status == "complete" and reply.content == fake.scenario.text
    assert len(fake.requests) == 1  # no refusal, no retry
    system, sent = sent_messages(fake)
    assert system == SYSTEM_PROMPT
    assert sent[-1] == {"role": "user", "content": "And what now?"}
    history = [m["content"][:5] for m in sent[:-1]]
    kept = len(history)
    assert 5 < kept < 60
    assert history == [f"m{n:04d}" for n in range(60 - kept, 60)]  # the newest, in order, none skipped
    assert sent[0]["role"] == "user"  # it starts at a question
    assert reply.context_left_out_count == 60 - kept
    call = calls_of(conversation)[0]
    assert call.input_tokens == count_tokens([SYSTEM_PROMPT] + [m["content"] for m in sent])  # what the fake counted
    assert call.input_tokens + 100 <= 1000 and call.estimated_input_tokens >= call.input_tokens
    page = person.get(f"/chat/{conversation.id}").get_data(as_text=True)
    assert f"{60 - kept} earlier messages not sent" in page


def test_a_model_with_a_large_window_gets_more_than_40_messages(app, login_as, fake):
    model = model_on(fake, context_window=200_000, max_tokens=4096)
    person = login_as("user")
    conversation = long_conversation(person.user, model, 120)

    reply = answer(person.user, conversation, model)

    _, sent = sent_messages(fake)
    assert len(sent) == 121 and reply.status == "complete"
    assert reply.context_left_out_count == 0
    assert "not sent" not in person.get(f"/chat/{conversation.id}").get_data(as_text=True)


def test_replaced_and_failed_messages_are_never_sent(app, login_as):
    with FakeOpenAIServer() as server:
        server.provider = "openai"
        model = model_on(server, context_window=200_000, max_tokens=100)
        person = login_as("user")
        conversation = long_conversation(person.user, model, 4)
        rows = list(db.session.scalars(select(Message).where(Message.conversation_id == conversation.id)
                                       .order_by(Message.id)))
        rows[1].superseded_by_id, rows[1].superseded_at = rows[3].id, utcnow()
        rows[3].status = "failed"
        db.session.commit()

        answer(person.user, conversation, model)

        _, sent = sent_messages(server)
        assert [m["content"][:5] for m in sent[:-1]] == ["m0000", "m0002"]


def test_the_summary_option_sends_the_summary_and_recent_turns_and_records_its_cost(app, login_as, fake):
    fake.scenario.context_window = 1000
    model = model_on(fake, context_window=1000, max_tokens=100)
    with FakeOpenAIServer() as writer_server:
        writer_server.provider = "openai"
        writer_server.scenario.text = "SUMMARY: the user asked about lorem ipsum."
        writer_server.scenario.context_window = 100_000
        writer = model_on(writer_server, context_window=100_000, max_tokens=1000, name="Summariser",
                          prices=("2", "8", "0"), is_summary_model=True)
        person = login_as("user")
        conversation = long_conversation(person.user, model, 60, system_prompt=SYSTEM_PROMPT, is_summary_enabled=True)

        reply = answer(person.user, conversation, model)

        assert reply.status == "complete" and len(writer_server.requests) == 1
        system, sent = sent_messages(fake)
        assert system.startswith(SYSTEM_PROMPT) and "SUMMARY: the user asked about lorem ipsum." in system
        assert sent[-1]["content"] == "And what now?" and sent[-2]["content"].startswith("m0059")
        summarised = writer_server.requests[0].body["messages"][-1]["content"]
        assert "m0000" in summarised and "m0059" not in summarised  # what was left out, not what was sent
        summary = db.session.scalar(select(ConversationSummary).where(
            ConversationSummary.conversation_id == conversation.id))
        assert reply.context_summary_id == summary.id and reply.context_left_out_count > 0
        assert summary.covered_message_count == reply.context_left_out_count
        (summary_call,) = calls_of(conversation, "summary")
        assert summary_call.status == "success" and summary_call.ai_model_id == writer.id
        assert summary_call.total_cost_usd > 0 and summary.model_request_id == summary_call.id
        expected = (Decimal(summary_call.input_tokens) * 2 + Decimal(summary_call.output_tokens) * 8) / 1_000_000
        assert summary_call.total_cost_usd == expected.quantize(Decimal("0.0000000001"))
        db.session.refresh(conversation)
        chat_call = calls_of(conversation)[0]
        assert conversation.total_cost_usd == summary_call.total_cost_usd + chat_call.total_cost_usd
        assert "(a summary of them was)" in person.get(f"/chat/{conversation.id}").get_data(as_text=True)

        # One more exchange leaves only a little more out: the summary is used as it is.
        answer(person.user, conversation, model, "One more thing?")
        assert len(writer_server.requests) == 1
        system, _ = sent_messages(fake)
        assert "SUMMARY: the user asked about lorem ipsum." in system
        # Once it has fallen further behind, it is refreshed from where it ended.
        exchanges = 0
        while len(writer_server.requests) == 1 and exchanges < 10:
            answer(person.user, conversation, model, f"Question {exchanges}? " + "lorem ipsum " * 16)
            exchanges += 1
        assert len(writer_server.requests) == 2 and exchanges > 1
        assert "SUMMARY: the user asked about lorem ipsum." in writer_server.requests[1].body["messages"][-1]["content"]
        assert len(calls_of(conversation, "summary")) == 2


def test_without_the_summary_option_no_summary_is_made(app, login_as):
    with FakeOpenAIServer() as server:
        server.provider = "openai"
        server.scenario.context_window = 1000
        model = model_on(server, context_window=1000, max_tokens=100, is_summary_model=True)
        person = login_as("user")
        conversation = long_conversation(person.user, model, 60)
        reply = answer(person.user, conversation, model)
        assert len(server.requests) == 1 and reply.context_summary_id is None
        assert calls_of(conversation, "summary") == []


def test_a_provider_that_says_too_long_gets_one_trimmed_retry(app, login_as, fake):
    fake.scenario.context_window = 1000  # the registry says more than the model really takes
    model = model_on(fake, context_window=8000, max_tokens=100)
    person = login_as("user")
    conversation = long_conversation(person.user, model, 60, system_prompt=SYSTEM_PROMPT)

    reply = answer(person.user, conversation, model)

    assert reply.status == "complete" and len(fake.requests) == 2
    first, second = (sent_messages(fake, i)[1] for i in (0, 1))
    assert len(second) < len(first) and second[-1]["content"] == "And what now?"
    assert sent_messages(fake, 1)[0] == SYSTEM_PROMPT
    assert reply.context_left_out_count == 61 - len(second)
    refused, streamed = calls_of(conversation)
    assert refused.status == "error" and refused.error_code == "context_length" and refused.total_cost_usd == 0
    assert streamed.status == "success" and streamed.estimated_input_tokens < refused.estimated_input_tokens


def test_a_provider_that_still_says_too_long_after_the_retry_fails_with_a_message(app, login_as, fake):
    # The answer's room is most of the real window: even the trimmed request does not fit.
    fake.scenario.context_window = 1000
    model = model_on(fake, context_window=8000, max_tokens=900)
    person = login_as("user")
    conversation = long_conversation(person.user, model, 12)

    reply = answer(person.user, conversation, model)

    assert len(fake.requests) == 2  # once, and only once
    assert reply.status == "failed" and reply.error_message == TOO_LONG_AFTER_RETRY
    assert [c.error_code for c in calls_of(conversation)] == ["context_length", "context_length"]


def test_a_question_too_long_for_the_model_fails_without_a_pointless_retry(app, login_as):
    with FakeOpenAIServer() as server:
        server.provider = "openai"
        server.scenario.context_window = 200
        model = model_on(server, context_window=8000, max_tokens=100)
        person = login_as("user")
        conversation = long_conversation(person.user, model, 4)
        reply = answer(person.user, conversation, model, "word " * 400)
        assert len(server.requests) == 1
        assert reply.status == "failed" and reply.error_message == QUESTION_TOO_LONG


def test_an_imported_long_chatgpt_conversation_follows_the_same_rules(app, login_as):
    with FakeOpenAIServer() as server:
        server.provider = "openai"
        server.scenario.context_window = 2000
        model = model_on(server, context_window=2000, max_tokens=200)
        person = login_as("user")
        imported = [services.ImportedMessage(role="user" if n % 2 == 0 else "assistant",
                                             content=f"i{n:04d} " + "dolor sit amet " * 20, content_html="x")
                    for n in range(400)]
        conversation = services.add_imported_conversation(person.user, "From ChatGPT", imported, model=model,
                                                          system_prompt=SYSTEM_PROMPT)
        db.session.commit()

        reply = answer(person.user, conversation, model)

        system, sent = sent_messages(server)
        assert reply.status == "complete" and len(server.requests) == 1 and system == SYSTEM_PROMPT
        assert sent[-2]["content"].startswith("i0399") and 0 < reply.context_left_out_count < 400


def test_estimates_are_calibrated_by_the_input_tokens_providers_report(app, login_as):
    with FakeOpenAIServer() as server:
        server.provider = "openai"
        server.scenario.context_window = 100_000
        server.scenario.chars_per_token = 1.5  # this model's tokenizer counts far more than the estimate
        model = model_on(server, context_window=100_000, max_tokens=100)
        person = login_as("user")
        conversation = long_conversation(person.user, model, 6)
        assert calibration_factor(model) == 1.0
        for number in range(3):
            answer(person.user, conversation, model, f"Question {number}?")
        factor = calibration_factor(model)
        assert 1.8 < factor < 3.0
        # The next estimate, corrected, is close to what the provider then reports.
        answer(person.user, conversation, model, "Calibrated?")
        last = calls_of(conversation)[-1]
        assert abs(last.estimated_input_tokens * factor - last.input_tokens) < 0.2 * last.input_tokens


@pytest.mark.postgres
def test_building_the_request_reads_only_the_newest_rows_it_needs(app, login_as):
    with FakeOpenAIServer() as server:
        server.provider = "openai"
        server.scenario.context_window = 1000
        model = model_on(server, context_window=1000, max_tokens=100)
        user = make_user()
        conversation = long_conversation(user, model, 600)
        _, assistant = services.send_message(user, conversation, model.id, "Short?", GenerationOptions(), None)
        message = db.session.get(Message, assistant.id)
        from app.chat.context import fit_history

        with count_queries(app) as statements:
            fitted = fit_history(message, conversation, model, 100)
        reads = [s for s in statements if "FROM nexus_messages" in s and "count(" not in s.lower()]
        assert len(reads) == 1 and "LIMIT" in reads[0]  # one small keyset page, never the whole conversation
        assert fitted.left_out_count + len(fitted.history) == 601


def test_summaries_are_off_by_default_and_turned_on_in_the_conversation_settings(app, login_as):
    from tests.factories import make_conversation

    person = login_as("user")
    conversation = make_conversation(person.user, messages=2)
    assert conversation.is_summary_enabled is False
    response = person.post(f"/chat/{conversation.id}/settings", {
        "settings-model_id": str(conversation.model_id), "settings-system_prompt": "",
        "settings-is_summary_enabled": "y"})
    assert response.status_code == 303
    db.session.refresh(conversation)
    assert conversation.is_summary_enabled is True
    page = person.get(f"/chat/{conversation.id}").get_data(as_text=True)
    assert "Summarise earlier messages that no longer fit the model" in page


def test_an_admin_picks_the_summary_model_in_the_model_form(app, login_as):
    from app.ai_models.models import AIModel
    from app.chat.context import summary_model

    admin = login_as("admin")
    assert summary_model() is None
    assert "Writes conversation summaries" in admin.get("/admin/models/new").get_data(as_text=True)
    response = admin.post("/admin/models/new", {
        "name": "Summariser", "provider": "openai", "model_id": "gpt-summary", "base_url": "http://127.0.0.1:9/v1",
        "context_window": "128000", "max_tokens": "1000", "input_cost_per_million": "0.15",
        "output_cost_per_million": "0.6", "cached_input_cost_per_million": "0", "active": "y",
        "is_summary_model": "y"})
    assert response.status_code == 303
    assert summary_model() == db.session.scalar(select(AIModel).where(AIModel.model_id == "gpt-summary"))
