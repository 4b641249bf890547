"""Each provider's real client code against a local server speaking its wire protocol."""
from __future__ import annotations

from decimal import Decimal

import pytest

from app.llm.anthropic import AnthropicProvider
from app.llm.base import ChatMessage, Finish, GenerationRequest, ProviderError, TextDelta, Usage
from app.llm.echo import EchoProvider
from app.llm.openai import OpenAIProvider
from app.llm.pricing import cost_usd
from app.llm.registry import UnknownProvider, get_provider
from app.llm.sse import iter_sse
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.openai_server import FakeOpenAIServer

KEY = "sk-test-SENTINEL-abc123"
CASES = [(OpenAIProvider, FakeOpenAIServer, "/v1"), (AnthropicProvider, FakeAnthropicServer, "")]


def request_for(base_url, **options):
    return GenerationRequest(model_id="model-x", base_url=base_url, api_key=KEY, timeout=10, messages=[
        ChatMessage("system", "Be brief."), ChatMessage("user", "Hi"), ChatMessage("assistant", "Hello"),
        ChatMessage("user", "How are you?")], **options)


@pytest.fixture(params=CASES, ids=["openai", "anthropic"])
def provider_and_server(request):
    provider_class, server_class, suffix = request.param
    with server_class() as server:
        yield provider_class(), server, server.url + suffix


def test_streamed_text_usage_and_finish(provider_and_server):
    provider, server, base_url = provider_and_server
    server.scenario.cached_tokens = 4
    events = list(provider.stream(request_for(base_url, temperature=0.5, max_tokens=64)))
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 3
    assert "".join(d.text for d in deltas) == server.scenario.text
    assert events[-2] == Usage(12, 9, 4)
    assert isinstance(events[-1], Finish)


def test_request_carries_model_key_messages_and_options(provider_and_server):
    provider, server, base_url = provider_and_server
    list(provider.stream(request_for(base_url, temperature=0.5, top_p=0.9, max_tokens=64)))
    sent = server.requests[-1]
    assert sent.body["model"] == "model-x" and sent.body["stream"] is True
    assert sent.body["temperature"] == 0.5 and sent.body["top_p"] == 0.9 and sent.body["max_tokens"] == 64
    if isinstance(provider, OpenAIProvider):
        assert sent.path == "/v1/chat/completions" and sent.headers["Authorization"] == f"Bearer {KEY}"
        assert sent.body["messages"][0] == {"role": "system", "content": "Be brief."}
        assert sent.body["stream_options"] == {"include_usage": True}
    else:
        assert sent.path == "/v1/messages" and sent.headers["x-api-key"] == KEY
        assert sent.headers["anthropic-version"] == "2023-06-01"
        assert sent.body["system"] == "Be brief." and [m["role"] for m in sent.body["messages"]] == ["user", "assistant", "user"]


@pytest.mark.parametrize("status,code,words", [("401", "auth", "API key"), ("429", "rate_limited", "Rate limited"),
                                               ("500", "server_error", "server error")])
def test_http_errors_become_readable_provider_errors(provider_and_server, status, code, words):
    provider, server, base_url = provider_and_server
    server.scenario.mode = status
    with pytest.raises(ProviderError) as raised:
        list(provider.stream(request_for(base_url)))
    assert raised.value.code == code and raised.value.status_code == int(status)
    assert words in raised.value.message and KEY not in raised.value.message and "SENTINEL" not in raised.value.message


def test_a_stream_cut_midway_raises_after_the_partial_text(provider_and_server):
    provider, server, base_url = provider_and_server
    server.scenario.mode = "cut"
    received = []
    with pytest.raises(ProviderError) as raised:
        for event in provider.stream(request_for(base_url)):
            if isinstance(event, TextDelta):
                received.append(event.text)
    assert raised.value.code == "stream_cut"
    assert received and server.scenario.text.startswith("".join(received)) and "".join(received) != server.scenario.text


def test_anthropic_error_event_mid_stream():
    with FakeAnthropicServer() as server:
        server.scenario.mode = "error_event"
        with pytest.raises(ProviderError) as raised:
            list(AnthropicProvider().stream(request_for(server.url)))
    assert "Overloaded" in raised.value.message


def test_unreachable_provider_is_a_network_error():
    with pytest.raises(ProviderError) as raised:
        list(OpenAIProvider().stream(request_for("http://127.0.0.1:9/v1")))
    assert raised.value.code == "network"


def test_sse_parser_handles_comments_multiline_data_and_a_missing_final_blank_line():
    lines = [": keep-alive", "event: message_start", "data: {\"a\":", "data: 1}", "", "data: [DONE]"]
    assert list(iter_sse(iter(lines))) == [("message_start", '{"a":\n1}'), (None, "[DONE]")]


def test_echo_is_deterministic_chunked_and_reports_usage():
    request = GenerationRequest(model_id="echo-1", messages=[ChatMessage("user", "show code <b>raw</b>")])
    first, second = list(EchoProvider(chunk_delay=0).stream(request)), list(EchoProvider(chunk_delay=0).stream(request))
    assert first == second
    text = "".join(e.text for e in first if isinstance(e, TextDelta))
    assert text.startswith("You said: show code <b>raw</b>") and "```python" in text  # verbatim, unescaped
    assert len([e for e in first if isinstance(e, TextDelta)]) > 5
    usage = next(e for e in first if isinstance(e, Usage))
    assert usage.input_tokens >= 1 and usage.output_tokens >= 1


def test_echo_fails_on_request():
    request = GenerationRequest(model_id="echo-1", messages=[ChatMessage("user", "please [[echo:fail]]")])
    with pytest.raises(ProviderError):
        list(EchoProvider(chunk_delay=0).stream(request))


def test_registry_knows_each_provider_and_refuses_others():
    assert isinstance(get_provider("openai"), OpenAIProvider)
    assert isinstance(get_provider("anthropic"), AnthropicProvider)
    with pytest.raises(UnknownProvider):
        get_provider("nonsense")


def test_cost_uses_decimal_prices_per_million_and_bills_cached_tokens_at_their_price():
    cost = cost_usd(1_000, 500, 200, Decimal("2.50"), Decimal("10"), Decimal("1.25"))
    # 800 uncached × 2.50 + 200 cached × 1.25 + 500 × 10, per million
    assert cost == Decimal("0.0072500000")
    assert cost_usd(10, 10, 0, None, None, None) == Decimal("0E-10")
