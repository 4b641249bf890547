"""The offline token estimate, its calibration, and "the request is too long" told apart from other
refusals in every provider's words."""
from __future__ import annotations

import json

import pytest

from app.llm import tokens
from app.llm.anthropic import AnthropicProvider
from app.llm.base import ChatMessage, GenerationRequest, ProviderError
from app.llm.http_stream import context_overflow
from app.llm.openai import OpenAIProvider
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.openai_server import FakeOpenAIServer
from tests.shared_testdata import shared_file


def test_the_estimate_grows_with_the_text_and_counts_other_scripts_per_character():
    english = "The quick brown fox jumps over the lazy dog. " * 20
    assert 180 <= tokens.estimate_text_tokens(english) <= 300  # ~225 by a real tokenizer
    assert tokens.estimate_text_tokens("") == 0
    assert tokens.estimate_text_tokens("日本語のテキスト" * 10) >= 80  # about a token a character
    claude, gpt = tokens.family_for("anthropic"), tokens.family_for("openai")
    assert tokens.estimate_text_tokens(english, claude) > tokens.estimate_text_tokens(english, gpt)
    assert tokens.family_for("ollama-or-anything") is gpt
    assert tokens.estimate_request_tokens(["a", "b"]) == gpt.per_request + 2 * tokens.estimate_message_tokens("a")


def test_the_correction_factor_follows_reported_tokens_within_bounds():
    assert tokens.correction_factor([]) == 1.0
    assert tokens.correction_factor([(100, 150), (200, 300)]) == 1.0  # too few calls to trust
    assert tokens.correction_factor([(100, 150), (200, 300), (100, 150), (None, 10), (50, 0)]) == 1.5
    assert tokens.correction_factor([(100, 10_000)] * 5) == tokens.FACTOR_BOUNDS[1]
    assert tokens.correction_factor([(100, 1)] * 5) == tokens.FACTOR_BOUNDS[0]


def test_real_context_errors_are_recognised_with_their_counts():
    anthropic_body = shared_file("sse/errors/anthropic-400-invalid_request_error-prompt-too-long.json").read_text()
    assert context_overflow(anthropic_body) == (205351, 200000)
    openai_body = json.dumps({"error": {
        "message": "This model's maximum context length is 8192 tokens. However, your messages resulted in 9013 "
                   "tokens. Please reduce the length of the messages.",
        "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}})
    assert context_overflow(openai_body) == (9013, 8192)
    no_counts = json.dumps({"error": {"code": "context_length_exceeded", "message": "too long"}})
    assert context_overflow(no_counts) == (None, None)
    assert context_overflow(json.dumps({"error": {"type": "exceed_context_size_error", "n_prompt_tokens": 5000,
                                                  "n_ctx": 4096, "message": "exceeds the available context size"}})
                            ) == (5000, 4096)
    rate_limited = shared_file("sse/errors/openai-429-rate_limit_exceeded.json").read_text()
    assert context_overflow(rate_limited) is None
    assert context_overflow(json.dumps({"error": {"message": "temperature must be at most 2",
                                                  "type": "invalid_request_error"}})) is None


@pytest.mark.parametrize("provider_class,server_class", [(OpenAIProvider, FakeOpenAIServer),
                                                         (AnthropicProvider, FakeAnthropicServer)])
def test_a_request_longer_than_the_window_fails_as_context_length(provider_class, server_class):
    with server_class() as server:
        server.scenario.context_window = 50
        request = GenerationRequest(model_id="m", base_url=server.base_url, max_tokens=10,
                                    messages=[ChatMessage("user", "word " * 200)])
        with pytest.raises(ProviderError) as caught:
            list(provider_class(allow_private_hosts=True).stream(request))
    error = caught.value
    assert error.code == "context_length" and error.status_code == 400
    assert error.context_limit == 50 and error.prompt_tokens > 50
    assert "too long" in error.user_message and "word" not in error.user_message


@pytest.mark.parametrize("provider_class,server_class", [(OpenAIProvider, FakeOpenAIServer),
                                                         (AnthropicProvider, FakeAnthropicServer)])
def test_a_fake_enforcing_a_window_reports_the_input_tokens_it_counted(provider_class, server_class):
    from app.llm.base import Usage
    from tests.fakes.server import count_tokens

    with server_class() as server:
        server.scenario.context_window = 10_000
        request = GenerationRequest(model_id="m", base_url=server.base_url, max_tokens=10,
                                    messages=[ChatMessage("system", "Be brief."), ChatMessage("user", "word " * 200)])
        usage = next(e for e in provider_class(allow_private_hosts=True).stream(request) if isinstance(e, Usage))
    assert usage.input_tokens == count_tokens(["Be brief.", "word " * 200])
