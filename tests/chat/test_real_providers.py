"""Chat through the openai and anthropic providers, against local servers speaking their protocols:
text, usage and cost recorded; 401/429/500 and a cut stream end as failed answers, partial text kept."""
from __future__ import annotations

import time
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.chat.models import ModelRequest
from app.extensions import db
from tests.chat.helpers import last_answer, start_chat, wait_for_answer
from tests.factories import make_model
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.openai_server import FakeOpenAIServer

KEY_VARIABLE = "FAKE_PROVIDER_API_KEY"
KEY = "sk-test-SENTINEL-e2e"


@pytest.fixture(params=["openai", "anthropic"])
def provider_setup(request, monkeypatch):
    """A running fake of the provider and a registry model pointing at it."""
    monkeypatch.setenv(KEY_VARIABLE, KEY)
    server_class = FakeOpenAIServer if request.param == "openai" else FakeAnthropicServer
    with server_class() as server:
        base_url = server.url + ("/v1" if request.param == "openai" else "")
        model = make_model(f"Fake {request.param}", provider=request.param, model_id=f"{request.param}-fake",
                           base_url=base_url, api_key_env=KEY_VARIABLE, prices=("2.5", "10", "1.25"))
        yield server, model


@pytest.mark.postgres
def test_answer_streams_from_the_provider_with_usage_and_cost(login_as, provider_setup):
    server, model = provider_setup
    server.scenario.cached_tokens = 2
    person = login_as("user")
    conversation = start_chat(person, "Hello provider", model_id=str(model.id), temperature="0.4")
    answer = wait_for_answer(last_answer(conversation).id)
    assert answer.status == "complete" and answer.content == server.scenario.text
    sent = server.requests[0].body
    assert sent["model"] == model.model_id and sent["temperature"] == 0.4
    assert sent["messages"][-1] == {"role": "user", "content": "Hello provider"}
    call = db.session.scalar(select(ModelRequest).where(ModelRequest.message_id == answer.id))
    assert (call.input_tokens, call.output_tokens, call.cached_input_tokens) == (12, 9, 2)
    # 10 uncached × 2.5 + 2 cached × 1.25 + 9 × 10, per million tokens
    assert call.total_cost_usd == Decimal("0.0001175000") == answer.cost_usd
    assert call.status == "success" and call.provider == model.provider and call.model_name == model.model_id
    assert call.time_to_first_token_ms is not None
    # A real model also names the conversation, just after the answer; that call is recorded and counted too.
    deadline = time.time() + 10
    title_call = select(ModelRequest.id).where(ModelRequest.task_type == "title")
    while time.time() < deadline and db.session.scalar(title_call) is None:
        time.sleep(0.05)
        db.session.expire_all()
    db.session.refresh(conversation)  # the title is written in the same transaction as that call
    assert conversation.title == server.scenario.text
    title_call = db.session.scalar(select(ModelRequest).where(ModelRequest.task_type == "title"))
    assert title_call.status == "success" and title_call.chat_id == conversation.id
    assert conversation.total_cost_usd == call.total_cost_usd + title_call.total_cost_usd


@pytest.mark.parametrize("mode,words,shown", [
    ("401", "API key", "returned an error (HTTP 401)"), ("429", "Rate limited", "returned an error (HTTP 429)"),
    ("500", "server error", "returned an error (HTTP 500)"),
    ("cut", "ended before the answer was complete", "ended the answer before it was complete")])
def test_provider_failures_become_failed_answers_with_partial_text(login_as, provider_setup, mode, words, shown):
    server, model = provider_setup
    server.scenario.mode = mode
    person = login_as("user")
    conversation = start_chat(person, "Hello provider", model_id=str(model.id))
    answer = wait_for_answer(last_answer(conversation).id)
    # The user is told what happened in general; the provider's own words are kept for admins.
    assert answer.status == "failed" and shown in answer.error_message and words not in answer.error_message
    assert "An admin can see the details." in answer.error_message
    if mode == "cut":
        assert answer.content and server.scenario.text.startswith(answer.content)
    call = db.session.scalar(select(ModelRequest).where(ModelRequest.message_id == answer.id))
    assert call.status == "error" and words in call.error_message and KEY not in call.error_message
    page = person.get(f"/chat/{conversation.id}").get_data(as_text=True)
    assert "This answer failed." in page and ">Retry<" in page and KEY not in page


def test_conversation_history_and_system_prompt_reach_the_provider(login_as, provider_setup):
    server, model = provider_setup
    person = login_as("user")
    conversation = start_chat(person, "first", model_id=str(model.id))
    wait_for_answer(last_answer(conversation).id)
    person.post(f"/chat/{conversation.id}/settings", {"settings-model_id": str(model.id),
                                                      "settings-system_prompt": "Answer in French."})
    page = person.get(f"/chat/{conversation.id}").get_data(as_text=True)
    from tests.chat.helpers import composer_token

    person.post(f"/chat/{conversation.id}/messages", {"content": "second", "model_id": str(model.id),
                                                     "client_request_id": composer_token(page)}, htmx=True)
    wait_for_answer(last_answer(conversation).id)
    sent = server.requests[-1].body
    if model.provider == "openai":
        assert sent["messages"][0] == {"role": "system", "content": "Answer in French."}
        assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "user"]
    else:
        assert sent["system"] == "Answer in French."
        assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["messages"][-1]["content"] == "second"
