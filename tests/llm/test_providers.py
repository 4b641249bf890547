"""Each provider's real client code against a local server speaking its wire protocol over real HTTP;
the demo model; the registry; pricing."""
from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import pytest

from app.llm.anthropic import AnthropicProvider
from app.llm.base import (
    ChatMessage,
    Finish,
    GenerationRequest,
    ProviderError,
    ReasoningDelta,
    TextDelta,
    Usage,
)
from app.llm.echo import EchoProvider, approximate_tokens
from app.llm.http_stream import provider_detail
from app.llm.openai import OpenAIProvider
from app.llm.pricing import cost_usd
from app.llm.registry import PROVIDERS, UnknownProvider, get_provider
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.server import FakeProviderServer
from tests.helpers.servers import free_port

FIXTURES = Path(__file__).parent / "fixtures"
KEY = "sk-test-SENTINEL-abc123"
CASES = [(OpenAIProvider, FakeOpenAIServer), (AnthropicProvider, FakeAnthropicServer)]


def request_for(base_url: str, **options) -> GenerationRequest:
    options.setdefault("timeout", 10)
    return GenerationRequest(model_id="model-x", base_url=base_url, api_key=KEY, messages=[
        ChatMessage("system", "Be brief."), ChatMessage("user", "Hi"), ChatMessage("assistant", "Hello"),
        ChatMessage("user", "How are you?")], **options)


def text_of(events) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def reasoning_of(events) -> str:
    return "".join(e.text for e in events if isinstance(e, ReasoningDelta))


def collect_until_error(stream) -> tuple[list, ProviderError]:
    """The events a stream yielded before it raised, and the error."""
    events = []
    with pytest.raises(ProviderError) as raised:
        events.extend(stream)  # keeps what arrived before the error
    return events, raised.value


@pytest.fixture(params=CASES, ids=["openai", "anthropic"])
def provider_and_fake(request):
    provider_class, fake_class = request.param
    with fake_class() as fake:
        yield provider_class(allow_private_hosts=True), fake  # the fakes listen on 127.0.0.1


# The wire: text, usage, finish, what is sent


def test_streamed_text_then_one_usage_then_one_finish(provider_and_fake):
    provider, fake = provider_and_fake
    fake.scenario.cached_tokens = 4
    events = list(provider.stream(request_for(fake.base_url)))
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 3 and text_of(events) == fake.scenario.text
    assert events[len(deltas):] == [Usage(12, 9, 4), Finish("stop" if provider.name == "openai" else "end_turn")]


def test_reasoning_streams_before_the_text(provider_and_fake):
    provider, fake = provider_and_fake
    fake.scenario.reasoning = "First I think, then I answer."
    events = list(provider.stream(request_for(fake.base_url)))
    assert reasoning_of(events) == fake.scenario.reasoning and text_of(events) == fake.scenario.text
    kinds = [type(e) for e in events]
    assert kinds.index(TextDelta) > max(i for i, kind in enumerate(kinds) if kind is ReasoningDelta)


def test_openai_request_carries_model_key_messages_and_only_the_options_set():
    with FakeOpenAIServer() as fake:
        list(OpenAIProvider(allow_private_hosts=True).stream(request_for(
            fake.base_url, temperature=0.5, top_p=0.9, max_tokens=64, frequency_penalty=-1.5, presence_penalty=0.0)))
        list(OpenAIProvider(allow_private_hosts=True).stream(request_for(fake.base_url)))
    full, bare = fake.requests
    assert full.path == "/v1/chat/completions" and full.headers["authorization"] == f"Bearer {KEY}"
    assert full.headers["accept"] == "text/event-stream"
    assert full.body == {
        "model": "model-x", "stream": True, "stream_options": {"include_usage": True},
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                     {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "How are you?"}],
        "temperature": 0.5, "top_p": 0.9, "max_tokens": 64, "frequency_penalty": -1.5, "presence_penalty": 0.0}
    assert set(bare.body) == {"model", "messages", "stream", "stream_options"}


def test_openai_itself_gets_max_completion_tokens():
    body = OpenAIProvider().body(request_for("https://api.openai.com/v1", max_tokens=100))
    assert body["max_completion_tokens"] == 100 and "max_tokens" not in body
    assert OpenAIProvider().body(request_for("http://localhost:11434/v1", max_tokens=100))["max_tokens"] == 100


def test_anthropic_request_has_system_apart_required_max_tokens_and_no_penalties():
    with FakeAnthropicServer() as fake:
        list(AnthropicProvider(allow_private_hosts=True).stream(request_for(fake.base_url, temperature=1.7, top_p=0.9,
                                                    frequency_penalty=1.0, presence_penalty=1.0)))
        list(AnthropicProvider(allow_private_hosts=True).stream(request_for(fake.base_url, max_tokens=64)))
    clamped, plain = fake.requests
    assert clamped.path == "/v1/messages" and clamped.headers["x-api-key"] == KEY
    assert clamped.headers["anthropic-version"] == "2023-06-01" and "authorization" not in clamped.headers
    assert clamped.body == {
        "model": "model-x", "max_tokens": 1024, "stream": True, "system": "Be brief.",
        "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
                     {"role": "user", "content": "How are you?"}],
        "temperature": 1.0, "top_p": 0.9}  # temperature clamped to Anthropic's 0–1
    assert plain.body["max_tokens"] == 64 and "temperature" not in plain.body and "top_p" not in plain.body


def test_anthropic_leaves_out_empty_messages_it_would_refuse():
    body = AnthropicProvider().body(GenerationRequest(model_id="m", messages=[
        ChatMessage("user", "one"), ChatMessage("assistant", ""), ChatMessage("user", "two")]))
    assert body["messages"] == [{"role": "user", "content": "one"}, {"role": "user", "content": "two"}]
    assert "system" not in body


# Failures


@pytest.mark.parametrize("status,code,words", [
    ("401", "auth", "refused the API key (401)"),
    ("429", "rate_limited", "Rate limited by "),
    ("500", "server_error", "had a server error (500)"),
])
def test_http_errors_become_readable_provider_errors(provider_and_fake, status, code, words):
    provider, fake = provider_and_fake
    fake.scenario.mode = status
    events, error = collect_until_error(provider.stream(request_for(fake.base_url)))
    assert events == []
    assert error.code == code and error.status_code == int(status) and words in error.message
    assert KEY not in error.message and "SENTINEL" not in error.message and KEY not in repr(error)
    if status == "429":  # the provider's own explanation is passed on
        assert "rate limit" in error.message.lower() and "(429): " in error.message


def test_a_wrong_base_url_is_not_found(provider_and_fake):
    provider, fake = provider_and_fake
    _, error = collect_until_error(provider.stream(request_for(fake.url + "/wrong")))
    assert error.code == "not_found" and error.status_code == 404 and "(404)" in error.message


@pytest.mark.parametrize("mode", ["cut", "truncate"])
def test_a_stream_ending_early_raises_after_the_partial_text(provider_and_fake, mode):
    """cut: the connection drops mid-body; truncate: the body ends cleanly, without the terminal event."""
    provider, fake = provider_and_fake
    fake.scenario.mode = mode
    events, error = collect_until_error(provider.stream(request_for(fake.base_url)))
    partial = text_of(events)
    assert error.code == "stream_cut" and "ended before the answer was complete" in error.message
    assert partial and fake.scenario.text.startswith(partial) and partial != fake.scenario.text
    assert not any(isinstance(e, (Usage, Finish)) for e in events)


def test_an_error_event_mid_stream_raises_after_the_partial_text(provider_and_fake):
    provider, fake = provider_and_fake
    fake.scenario.mode = "error_event"
    events, error = collect_until_error(provider.stream(request_for(fake.base_url)))
    assert text_of(events) and fake.scenario.text.startswith(text_of(events))
    assert error.code == "server_error" and "mid-answer" in error.message
    if provider.name == "anthropic":
        assert "overloaded_error" in error.message and "Overloaded" in error.message


def test_a_provider_silent_longer_than_the_timeout_is_a_cut_stream(provider_and_fake):
    provider, fake = provider_and_fake
    fake.scenario.mode, fake.scenario.slow_delay = "slow", 1.0
    started = time.monotonic()
    _, error = collect_until_error(provider.stream(request_for(fake.base_url, timeout=0.2)))
    assert error.code == "stream_cut" and "stopped sending for 0.2 s" in error.message
    assert time.monotonic() - started < 0.9


def test_closing_the_stream_early_returns_at_once(provider_and_fake):
    """The stop button: the caller closes the iterator and does not wait for the rest of the answer."""
    provider, fake = provider_and_fake
    fake.scenario.mode, fake.scenario.slow_delay = "slow", 0.3
    stream = provider.stream(request_for(fake.base_url))
    started = time.monotonic()
    first = next(event for event in stream if isinstance(event, TextDelta))
    stream.close()
    assert first.text and time.monotonic() - started < 1.0  # the whole answer would take ~3 s


@pytest.mark.parametrize("provider_class", [OpenAIProvider, AnthropicProvider])
def test_unreachable_provider_is_a_network_error(provider_class):
    port = free_port()
    _, error = collect_until_error(provider_class(allow_private_hosts=True).stream(request_for(f"http://127.0.0.1:{port}/v1")))
    assert error.code == "network" and f"127.0.0.1:{port}" in error.message and error.status_code is None


def test_a_base_url_without_scheme_is_refused_readably():
    _, error = collect_until_error(OpenAIProvider(allow_private_hosts=True).stream(request_for("localhost:11434/v1")))
    assert error.code == "refused" and "base URL" in error.message and "http://" in error.message


class ScriptedOpenAIServer(FakeOpenAIServer):
    """Answers every request with one fixed status, content type and body."""

    status, content_type, body = 400, "application/json", b"{}"

    def respond(self, handler, body) -> None:
        handler.send_response(self.status)
        handler.send_header("Content-Type", self.content_type)
        handler.send_header("Content-Length", str(len(self.body)))
        handler.end_headers()
        handler.wfile.write(self.body)


def test_a_key_echoed_back_by_the_provider_never_reaches_the_message():
    with ScriptedOpenAIServer() as fake:
        fake.body = f'{{"error": {{"message": "Bad key {KEY} for model-x", "type": "invalid_request_error"}}}}'.encode()
        _, error = collect_until_error(OpenAIProvider(allow_private_hosts=True).stream(request_for(fake.base_url)))
    assert error.code == "bad_request" and error.status_code == 400
    assert KEY not in error.message and "Bad key [redacted] for model-x" in error.message


def test_a_json_answer_to_a_streaming_request_is_an_error_not_a_cut():
    with ScriptedOpenAIServer() as fake:
        fake.status, fake.body = 200, b'{"error": "streaming is disabled on this proxy"}'
        _, error = collect_until_error(OpenAIProvider(allow_private_hosts=True).stream(request_for(fake.base_url)))
    assert error.code == "bad_request" and "streaming is disabled on this proxy" in error.message


def test_an_event_stream_mislabelled_as_json_still_parses():
    with ScriptedOpenAIServer() as fake:
        fake.status, fake.body = 200, (FIXTURES / "openai-text-with-usage.sse").read_bytes()
        events = list(OpenAIProvider(allow_private_hosts=True).stream(request_for(fake.base_url)))
    assert text_of(events) == OPENAI_TEXT and events[-1] == Finish("stop")


def test_a_redirect_is_reported_not_followed():
    """Following it would send the key header wherever the redirect points."""
    with ScriptedOpenAIServer() as fake:
        fake.status, fake.content_type, fake.body = 308, "text/html", b"<html>moved</html>"
        _, error = collect_until_error(OpenAIProvider(allow_private_hosts=True).stream(request_for(fake.base_url)))
    assert error.code == "bad_request" and error.status_code == 308 and "base URL" in error.message
    assert len(fake.requests) == 1


@pytest.mark.parametrize("body,detail", [
    ('{"error": {"message": "Model not found", "type": "invalid_request_error"}}', "Model not found"),
    ('{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}', "Overloaded"),
    ('{"object": "error", "message": "max_tokens is too large", "type": "BadRequestError"}', "max_tokens is too large"),
    ('{"error": "model \\"llama9\\" not found, try pulling it first"}',
     'model "llama9" not found, try pulling it first'),
    ('{"detail": "Not authenticated"}', "Not authenticated"),
    ("upstream connect error\n  or disconnect", "upstream connect error or disconnect"),
    ("<html><body><h1>502 Bad Gateway</h1></body></html>", ""),
    ("x" * 1000, "x" * 299 + "…"),
])
def test_provider_detail_reads_the_usual_error_shapes(body, detail):
    assert provider_detail(body, KEY) == detail


# Recorded-shape bodies replayed through the fakes, split on lines, in small pieces and whole


OPENAI_TEXT = "Caf\u00e9 au lait costs 3 \u20ac in Ky\u014dto\u2028next line."
REPLAYS = {
    "openai-text-with-usage.sse": (OpenAIProvider, FakeOpenAIServer, "", OPENAI_TEXT, Usage(21, 12, 0), "stop"),
    "openai-reasoning-crlf.sse": (OpenAIProvider, FakeOpenAIServer, "The user wants a haiku.", "Autumn moon rises",
                                  Usage(40, 16, 32), "length"),
    # Anthropic counts the 1200 cache reads apart from its 57 input tokens; Usage counts them inside.
    "anthropic-text.sse": (AnthropicProvider, FakeAnthropicServer, "", "Paris is the capital of France.",
                           Usage(1257, 8, 1200), "end_turn"),
    "anthropic-thinking.sse": (AnthropicProvider, FakeAnthropicServer, "Two plus two is four.",
                               "4 \u2014 four.", Usage(30, 25, 0), "max_tokens"),
}


@pytest.mark.parametrize("piece_size", [None, 1, 7, 100_000], ids=["lines", "1-byte", "7-bytes", "whole"])
@pytest.mark.parametrize("fixture", sorted(REPLAYS))
def test_recorded_shapes_parse(fixture, piece_size):
    provider_class, fake_class, reasoning, text, usage, finish = REPLAYS[fixture]
    with fake_class() as fake:
        fake.scenario.replay, fake.scenario.replay_piece_size = (FIXTURES / fixture).read_bytes(), piece_size
        events = list(provider_class(allow_private_hosts=True).stream(request_for(fake.base_url)))
    assert reasoning_of(events) == reasoning and text_of(events) == text
    assert events[-2:] == [usage, Finish(finish)]


def test_recorded_anthropic_error_event():
    with FakeAnthropicServer() as fake:
        fake.scenario.replay = (FIXTURES / "anthropic-error-event.sse").read_bytes()
        events, error = collect_until_error(
            AnthropicProvider(allow_private_hosts=True).stream(request_for(fake.base_url)))
    assert text_of(events) == "Once upon"
    assert error.code == "server_error" and error.message == (
        "Anthropic reported an error mid-answer (overloaded_error): Overloaded")


def test_the_fakes_record_requests_and_report_their_base_urls():
    with FakeOpenAIServer() as openai_fake, FakeAnthropicServer() as anthropic_fake:
        assert openai_fake.base_url == openai_fake.url + "/v1" and anthropic_fake.base_url == anthropic_fake.url
        list(OpenAIProvider(allow_private_hosts=True).stream(request_for(openai_fake.base_url)))
        assert [r.path for r in openai_fake.requests] == ["/v1/chat/completions"] and anthropic_fake.requests == []
    assert isinstance(openai_fake, FakeProviderServer)


# The demo model


@pytest.fixture
def echo():
    return EchoProvider(chunk_delay=0)


def echo_request(*texts: str) -> GenerationRequest:
    roles = ["user", "assistant"]
    return GenerationRequest(model_id="echo", messages=[ChatMessage(roles[i % 2], t) for i, t in enumerate(texts)])


def test_echo_is_deterministic_chunked_verbatim_and_reports_usage(echo):
    hostile = 'show code and a table <img src=x onerror="alert(1)"> & done'
    request = echo_request("earlier question", "earlier answer", hostile)
    first, second = list(echo.stream(request)), list(echo.stream(request))
    assert first == second
    text = text_of(first)
    assert text.startswith(f"You said: {hostile}\n\n")  # verbatim: the app escapes, not the model
    assert "```python\n" in text and "| --- |" in text
    assert len([e for e in first if isinstance(e, TextDelta)]) > 5
    assert first[-2:] == [Usage(approximate_tokens(f"earlier question earlier answer {hostile}"),
                                approximate_tokens(text)), Finish("stop")]


def test_echo_without_code_or_table_writes_neither(echo):
    text = text_of(echo.stream(echo_request("hello")))
    assert text.startswith("You said: hello\n\n") and "```" not in text and "|" not in text


def test_echo_token_approximation():
    assert [approximate_tokens(t) for t in ["", "one", "one two three", "a b c d e f"]] == [1, 1, 4, 8]


def test_echo_fails_on_request_after_some_text(echo):
    events, error = collect_until_error(echo.stream(echo_request("please [[echo:fail]] now")))
    assert text_of(events).startswith("You said: ") and len(events) == 3
    assert error.code == "server_error" and error.message == "The demo model was asked to fail."


def test_echo_slow_is_long_and_slow(echo):
    assert echo.slow_chunk_delay == 0.3
    events = list(EchoProvider(chunk_delay=0, slow_chunk_delay=0).stream(echo_request("[[echo:slow]] tell me a story")))
    chunks = [e for e in events if isinstance(e, TextDelta)]
    assert 35 <= len(chunks) <= 60 and text_of(events).endswith("word119")


def test_echo_delays_come_from_the_app_config_not_the_environment(monkeypatch):
    monkeypatch.setenv("STUDIO_ECHO_DELAY", "0.5")
    monkeypatch.setenv("STUDIO_ECHO_SLOW_DELAY", "0.5")
    default = get_provider("echo")
    assert (default.chunk_delay, default.slow_chunk_delay) == (0.03, 0.3)
    configured = get_provider("echo", {"ECHO_DELAY_SECONDS": 0.01, "ECHO_SLOW_DELAY_SECONDS": 0.06})
    assert (configured.chunk_delay, configured.slow_chunk_delay) == (0.01, 0.06)


def test_app_config_reads_the_echo_delays_from_the_environment(monkeypatch, tmp_path):
    from app.config import build_config

    monkeypatch.setenv("STUDIO_ECHO_DELAY", "0.02")
    monkeypatch.setenv("STUDIO_ECHO_SLOW_DELAY", "0.07")
    config = build_config(tmp_path)
    assert (config["ECHO_DELAY_SECONDS"], config["ECHO_SLOW_DELAY_SECONDS"]) == (0.02, 0.07)
    monkeypatch.delenv("STUDIO_ECHO_DELAY")
    monkeypatch.delenv("STUDIO_ECHO_SLOW_DELAY")
    config = build_config(tmp_path)
    assert (config["ECHO_DELAY_SECONDS"], config["ECHO_SLOW_DELAY_SECONDS"]) == (0.03, 0.3)


# Registry and pricing


def test_registry_knows_each_provider_and_refuses_others():
    assert set(PROVIDERS) == {"openai", "anthropic", "echo"}
    for name, provider_class in PROVIDERS.items():
        provider = get_provider(name)
        assert isinstance(provider, provider_class) and provider.name == name
    with pytest.raises(UnknownProvider) as raised:
        get_provider("nonsense")
    assert isinstance(raised.value, KeyError)


def test_cost_bills_cached_tokens_at_their_price_and_is_exact():
    # 800 uncached × 2.50 + 200 cached × 1.25 + 500 × 10, per million
    assert cost_usd(1_000, 500, 200, Decimal("2.50"), Decimal(10), Decimal("1.25")) == Decimal("0.0072500000")
    # 0.1 + 0.2 is exactly 0.3 here: 100,000 tokens at 1 + 200,000 at 1, per million
    assert cost_usd(100_000, 200_000, 0, Decimal(1), Decimal(1), None) == Decimal("0.3")
    assert str(cost_usd(1, 0, 0, Decimal("0.15"), None, None)) == "1.500E-7"
    assert cost_usd(10**9, 10**9, 0, Decimal("1234.567891"), Decimal("0.000001"), None) == Decimal("1234567.892")


def test_cost_edge_cases():
    assert cost_usd(10, 10, 0, None, None, None) == 0
    assert cost_usd(3, 0, 0, Decimal("0.333333"), None, None) == Decimal("0.0000010000")  # quantized to 10 places
    # Cached tokens are part of the input: never more of them than input tokens.
    assert cost_usd(100, 0, 500, Decimal(1), None, Decimal("0.5")) == Decimal("0.00005")
    assert cost_usd(100, 0, 0, 2, None, None) == Decimal("0.0002")  # an int price is exact too
    with pytest.raises(TypeError):
        cost_usd(100, 0, 0, 2.5, None, None)  # a float price is refused, not rounded
