"""Models that think before they speak: an answer survives a long silence before its first token,
fails with a message naming the model's limit when the provider stays silent, stops at once while
waiting, is retried before its first token (never after), sends reasoning options only to models
that accept them, and prices the reasoning tokens."""
from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.auth.models import User
from app.chat import services, streaming
from app.chat.models import Message, ModelRequest
from app.chat.services import GenerationOptions
from app.chat.streaming import generate_answer, reap_if_stale, start_generation
from app.extensions import db
from tests.chat.helpers import wait_for_answer
from tests.factories import make_conversation, make_model, make_user
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.postgres  # the generator writes from its thread while the test reads


@pytest.fixture(params=["openai", "anthropic"])
def fake(request):
    server_class = FakeOpenAIServer if request.param == "openai" else FakeAnthropicServer
    with server_class() as server:
        server.provider = request.param
        yield server


def model_on(server, name: str = "Deep Thinker", prices=(0, 0, 0), **fields):
    model = make_model(name, provider=server.provider, base_url=server.base_url, prices=prices)
    for key, value in fields.items():
        setattr(model, key, value)
    db.session.commit()
    return model


def ask(model, text: str = "Think hard, then answer.", options: GenerationOptions | None = None):
    """A conversation with a question and its answer waiting to be written; returns the answer's id."""
    user = make_user()
    conversation = make_conversation(user, messages=0)
    _, answer = services.send_message(user, conversation, model.id, text, options or GenerationOptions(), None)
    return answer.id


def answered(answer_id) -> Message:
    generate_answer(answer_id)
    db.session.expire_all()
    return db.session.get(Message, answer_id)


def calls_for(answer_id) -> list[ModelRequest]:
    db.session.expire_all()
    return list(db.session.scalars(select(ModelRequest).where(ModelRequest.message_id == answer_id)
                                   .order_by(ModelRequest.requested_at)))


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_a_first_token_later_than_the_reaper_limit_arrives_whole(app, fake, monkeypatch):
    monkeypatch.setattr(streaming, "HEARTBEAT_STALE_AFTER", timedelta(seconds=1))
    fake.scenario.first_token_delay = 2.5
    answer_id = ask(model_on(fake))
    thread = start_generation(answer_id)
    while thread.is_alive():  # a reader of the page meanwhile: it reaps answers whose heartbeat stopped
        db.session.expire_all()
        message = db.session.get(Message, answer_id)
        assert not reap_if_stale(message)
        db.session.rollback()
        time.sleep(0.1)
    message = wait_for_answer(answer_id)
    assert message.status == "complete" and message.content == fake.scenario.text


def test_a_silent_provider_fails_after_the_models_first_token_limit_with_a_message_naming_it(app, fake):
    fake.scenario.mode = "silent"
    answer_id = ask(model_on(fake, first_token_timeout_seconds=1))
    message = answered(answer_id)
    assert message.status == "failed"
    assert message.error_message == "Deep Thinker sent nothing within its first-token limit of 1 s."
    [call] = calls_for(answer_id)
    assert call.status == "error" and call.error_code == "timeout"


def test_a_provider_that_falls_silent_mid_answer_fails_after_the_idle_limit_and_keeps_the_text(app):
    with FakeOpenAIServer() as server:
        server.provider = "openai"
        server.scenario.mode = "slow"
        server.scenario.slow_delay = 2.5
        message = answered(ask(model_on(server, idle_timeout_seconds=1)))
    assert message.status == "failed" and message.content and message.content != server.scenario.text
    assert message.error_message == "Deep Thinker stopped sending for longer than its idle limit of 1 s."


def test_stop_while_the_model_thinks_ends_the_answer_at_once(app, fake):
    fake.scenario.first_token_delay = 30
    answer_id = ask(model_on(fake))
    start_generation(answer_id)
    wait_until(lambda: fake.requests)
    message = db.session.get(Message, answer_id)
    owner = db.session.get(User, message.user_id)
    services.request_stop(owner, services.get_conversation_for(owner, message.conversation_id))
    db.session.commit()
    stopped = wait_for_answer(answer_id, timeout=5)  # well before the first token would come
    assert stopped.status == "stopped" and stopped.content == ""
    assert [call.status for call in calls_for(answer_id)] == ["stopped"]


def test_a_429_with_retry_after_then_success_gives_one_answer_and_two_recorded_attempts(app, fake):
    fake.scenario.failures = ["429"]
    answer_id = ask(model_on(fake))
    message = answered(answer_id)
    assert message.status == "complete" and message.content == fake.scenario.text
    assert len(fake.requests) == 2
    calls = calls_for(answer_id)
    assert [(call.status, call.error_code) for call in calls] == [("error", "rate_limited"), ("success", None)]
    assert calls[1].requested_at >= calls[0].requested_at + timedelta(seconds=1)  # Retry-After: 1 honoured


def test_5xx_before_any_text_is_retried_up_to_the_configured_number_of_times(app, fake):
    app.config.update(MODEL_RETRIES=1, MODEL_RETRY_BASE_SECONDS=0.05)
    fake.scenario.failures = ["500", "500"]
    answer_id = ask(model_on(fake))
    message = answered(answer_id)
    assert message.status == "failed" and len(fake.requests) == 2
    assert [call.error_code for call in calls_for(answer_id)] == ["server_error", "server_error"]


def test_a_refused_connection_is_retried(app):
    app.config.update(MODEL_RETRIES=2, MODEL_RETRY_BASE_SECONDS=0.05)
    with FakeOpenAIServer() as server:
        server.provider = "openai"
        model = model_on(server)
    answer_id = ask(model)  # the server is gone: nothing listens on its port
    message = answered(answer_id)
    assert message.status == "failed"
    assert [call.error_code for call in calls_for(answer_id)] == ["network"] * 3


def test_an_error_after_some_text_is_not_retried_and_the_text_is_kept(app, fake):
    fake.scenario.mode = "error_event"
    answer_id = ask(model_on(fake))
    message = answered(answer_id)
    assert len(fake.requests) == 1
    assert message.status == "failed" and message.content and fake.scenario.text.startswith(message.content)
    assert [call.status for call in calls_for(answer_id)] == ["error"]


def test_reasoning_options_reach_only_models_that_accept_them(app):
    options = GenerationOptions(reasoning_effort="high", thinking_budget_tokens=2048)
    with FakeOpenAIServer() as openai, FakeAnthropicServer() as anthropic:
        openai.provider, anthropic.provider = "openai", "anthropic"
        for server, accepting in ((openai, "accepts_reasoning_effort"), (anthropic, "accepts_thinking_budget")):
            plain = model_on(server, name="Plain")
            thinking = model_on(server, name="Thinking", **{accepting: True})
            assert answered(ask(plain, options=options)).status == "complete"
            assert answered(ask(thinking, options=options)).status == "complete"
        plain_body, thinking_body = openai.requests[0].body, openai.requests[1].body
        assert "reasoning_effort" not in plain_body and "thinking" not in plain_body
        assert thinking_body["reasoning_effort"] == "high" and "thinking" not in thinking_body
        plain_body, thinking_body = anthropic.requests[0].body, anthropic.requests[1].body
        assert "thinking" not in plain_body and "reasoning_effort" not in plain_body
        assert thinking_body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
        assert thinking_body["max_tokens"] > 2048 and "reasoning_effort" not in thinking_body


def test_extended_thinking_is_shown_as_reasoning_and_priced_as_output(app):
    with FakeAnthropicServer() as server:
        server.provider = "anthropic"
        server.scenario.reasoning = "Let me weigh both options first."
        server.scenario.output_tokens = 40  # thinking included, as Anthropic counts
        model = model_on(server, prices=(0, 10, 0), accepts_thinking_budget=True)
        message = answered(ask(model, options=GenerationOptions(thinking_budget_tokens=1024)))
    assert message.reasoning_content == server.scenario.reasoning and message.content == server.scenario.text
    assert message.output_tokens == 40 and message.cost_usd == Decimal("0.0004")


def test_reasoning_tokens_are_recorded_and_priced_with_the_output(app):
    with FakeOpenAIServer() as server:
        server.provider = "openai"
        server.scenario.output_tokens, server.scenario.reasoning_tokens = 100, 64
        model = model_on(server, prices=(0, 10, 0), accepts_reasoning_effort=True)
        answer_id = ask(model, options=GenerationOptions(reasoning_effort="low"))
        message = answered(answer_id)
    [call] = calls_for(answer_id)
    assert call.reasoning_tokens == 64 and call.output_tokens == 100
    assert call.output_cost_usd == Decimal("0.001") == message.cost_usd  # 100 × $10 / 1M: reasoning included


def test_the_model_form_validates_the_time_limits(login_as):
    admin = login_as("admin")
    fields = {"name": "Thinker", "provider": "openai", "model_id": "o-think", "input_cost_per_million": "0",
              "output_cost_per_million": "0", "cached_input_cost_per_million": "0", "active": "y"}
    page = admin.post("/admin/models/new", {**fields, "first_token_timeout_seconds": "0",
                                            "idle_timeout_seconds": "99999"}).get_data(as_text=True)
    assert page.count("Between 1 and 3,600 seconds.") == 2
    response = admin.post("/admin/models/new", {**fields, "first_token_timeout_seconds": "600",
                                                "idle_timeout_seconds": "90", "accepts_reasoning_effort": "y"})
    assert response.status_code == 303
    from app.ai_models.models import AIModel
    model = db.session.scalar(select(AIModel).where(AIModel.model_id == "o-think"))
    assert (model.first_token_timeout_seconds, model.idle_timeout_seconds) == (600, 90)
    assert model.accepts_reasoning_effort and not model.accepts_thinking_budget


def test_the_database_refuses_time_limits_out_of_range(app):
    from sqlalchemy.exc import IntegrityError

    model = make_model("Bounded")
    model.idle_timeout_seconds = 0
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_thread_helper_is_not_left_running_after_a_silent_provider(app, fake):
    fake.scenario.mode = "silent"
    answer_id = ask(model_on(fake, first_token_timeout_seconds=1))
    thread = start_generation(answer_id)
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert wait_for_answer(answer_id).status == "failed"
    assert not any(t.name == f"generate-{answer_id}" for t in threading.enumerate())
