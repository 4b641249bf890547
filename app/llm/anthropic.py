"""Anthropic Messages API, streaming."""
from __future__ import annotations

import json
from collections.abc import Iterator

from app.llm.base import (
    Finish,
    GenerationRequest,
    ProviderError,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    Usage,
)
from app.llm.http_stream import HTTPProvider, json_object, provider_detail, stream_cut_error

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024  # the API requires max_tokens
THINKING_MIN_TOP_P = 0.95
LABEL = "Anthropic"

# In-stream errors worth sending the request again for, when they come before any text.
RETRYABLE_ERRORS = ("rate_limit_error", "overloaded_error", "api_error")
# The `error.type` of an in-stream error event → ProviderError.code
ERROR_CODES = {
    "rate_limit_error": "rate_limited",
    "authentication_error": "auth",
    "permission_error": "auth",
    "invalid_request_error": "bad_request",
    "request_too_large": "bad_request",
    "not_found_error": "not_found",
}


class AnthropicProvider(HTTPProvider):
    name = "anthropic"

    def body(self, request: GenerationRequest) -> dict:
        """The JSON body: system messages joined into `system`, the options Anthropic knows.
        Frequency and presence penalties do not exist in this API and are not sent."""
        system = "\n\n".join(m.content for m in request.messages if m.role == "system" and m.content.strip())
        body: dict = {
            "model": request.model_id,
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
            # The API refuses empty text blocks (e.g. an earlier answer that failed before any text).
            "messages": [{"role": m.role, "content": m.content} for m in request.messages
                         if m.role != "system" and m.content.strip()],
            "stream": True,
        }
        if system:
            body["system"] = system
        if request.thinking_budget_tokens:
            # Extended thinking: the budget must stay below max_tokens, and the API refuses a changed
            # temperature and a top_p under 0.95 alongside it.
            body["thinking"] = {"type": "enabled", "budget_tokens": request.thinking_budget_tokens}
            body["max_tokens"] = max(body["max_tokens"], request.thinking_budget_tokens + DEFAULT_MAX_TOKENS)
            if request.top_p is not None and request.top_p >= THINKING_MIN_TOP_P:
                body["top_p"] = request.top_p
            return body
        if request.temperature is not None:
            body["temperature"] = min(request.temperature, 1.0)  # Anthropic's range is 0–1, the app's 0–2
        if request.top_p is not None:
            body["top_p"] = request.top_p
        return body

    def stream(self, request: GenerationRequest) -> Iterator[StreamEvent]:
        url = (request.base_url or DEFAULT_BASE_URL).rstrip("/") + "/v1/messages"
        headers = {"anthropic-version": API_VERSION, "Accept": "text/event-stream"}
        if request.api_key:
            headers["x-api-key"] = request.api_key
        counts = _UsageCounts()
        stop_reason: str | None = None
        stopped = False
        with self.post_events(request, url, headers, LABEL) as events:
            for event in events:
                payload = json_object(event.data)
                if payload is None:
                    continue
                kind = payload.get("type") or event.event
                if kind == "message_start":
                    counts.update((payload.get("message") or {}).get("usage") or {})
                elif kind == "content_block_delta":
                    delta = payload.get("delta") or {}
                    if delta.get("type") == "text_delta" and delta.get("text"):
                        yield TextDelta(delta["text"])
                    elif delta.get("type") == "thinking_delta" and delta.get("thinking"):
                        yield ReasoningDelta(delta["thinking"])
                    # signature_delta and input_json_delta (tools) carry nothing to show.
                elif kind == "message_delta":
                    stop_reason = (payload.get("delta") or {}).get("stop_reason") or stop_reason
                    counts.update(payload.get("usage") or {})
                elif kind == "message_stop":
                    stopped = True
                    break
                elif kind == "error":
                    raise _error_event(payload.get("error") or {}, request.api_key)
                # ping, content_block_start and content_block_stop need nothing.
        if not stopped:
            raise stream_cut_error(LABEL)
        if counts.reported:
            yield counts.as_usage()
        yield Finish(stop_reason or "end_turn")


class _UsageCounts:
    """Anthropic's usage, gathered from message_start and message_delta (whose counts are cumulative)."""

    def __init__(self) -> None:
        self.reported = False
        self.uncached_input = self.cache_read = self.cache_write = self.output = 0

    def update(self, usage: dict) -> None:
        if not usage:
            return
        self.reported = True
        self.uncached_input = usage.get("input_tokens") or self.uncached_input
        self.cache_read = usage.get("cache_read_input_tokens") or self.cache_read
        self.cache_write = usage.get("cache_creation_input_tokens") or self.cache_write
        self.output = usage.get("output_tokens") or self.output

    def as_usage(self) -> Usage:
        # Anthropic counts cache reads and writes apart from input_tokens; Usage counts cached tokens
        # inside input_tokens (OpenAI's way), so one pricing rule serves both. Cache writes are billed
        # as ordinary input: the registry has no price for them.
        total_input = self.uncached_input + self.cache_read + self.cache_write
        return Usage(total_input, self.output, self.cache_read)


def _error_event(error: dict, api_key: str | None) -> ProviderError:
    kind = str(error.get("type") or "error")
    detail = provider_detail(json.dumps({"error": error}), api_key) or kind
    return ProviderError(f"Anthropic reported an error mid-answer ({kind}): {detail}",
                         code=ERROR_CODES.get(kind, "server_error"), is_retryable=kind in RETRYABLE_ERRORS)
