"""Anthropic Messages API, streaming."""
from __future__ import annotations

import json
from collections.abc import Iterator

import httpx

from app.llm.base import Finish, GenerationRequest, Provider, ProviderError, ReasoningDelta, StreamEvent, TextDelta, Usage
from app.llm.sse import iter_sse, network_error, raise_for_status

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024


class AnthropicProvider(Provider):
    name = "anthropic"

    def body(self, request: GenerationRequest) -> dict:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        body = {
            "model": request.model_id,
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages if m.role != "system"],
            "stream": True,
        }
        if system:
            body["system"] = system
        if request.temperature is not None:
            body["temperature"] = min(request.temperature, 1.0)  # Anthropic's range is 0–1
        if request.top_p is not None:
            body["top_p"] = request.top_p
        return body

    def stream(self, request: GenerationRequest) -> Iterator[StreamEvent]:
        url = (request.base_url or DEFAULT_BASE_URL).rstrip("/") + "/v1/messages"
        headers = {"anthropic-version": API_VERSION, "Accept": "text/event-stream"}
        if request.api_key:
            headers["x-api-key"] = request.api_key
        input_tokens = cached_tokens = output_tokens = 0
        stop_reason = None
        finished = False
        try:
            with httpx.Client(timeout=httpx.Timeout(request.timeout, connect=10)) as client:
                with client.stream("POST", url, json=self.body(request), headers=headers) as response:
                    raise_for_status(response, "Anthropic")
                    for event, data in iter_sse(response.iter_lines()):
                        try:
                            payload = json.loads(data)
                        except ValueError:
                            continue
                        kind = payload.get("type") or event
                        if kind == "message_start":
                            usage = (payload.get("message") or {}).get("usage") or {}
                            cached_tokens = usage.get("cache_read_input_tokens") or 0
                            input_tokens = (usage.get("input_tokens") or 0) + cached_tokens
                            output_tokens = usage.get("output_tokens") or 0
                        elif kind == "content_block_delta":
                            delta = payload.get("delta") or {}
                            if delta.get("type") == "text_delta" and delta.get("text"):
                                yield TextDelta(delta["text"])
                            elif delta.get("type") == "thinking_delta" and delta.get("thinking"):
                                yield ReasoningDelta(delta["thinking"])
                        elif kind == "message_delta":
                            stop_reason = (payload.get("delta") or {}).get("stop_reason") or stop_reason
                            output_tokens = (payload.get("usage") or {}).get("output_tokens", output_tokens)
                        elif kind == "message_stop":
                            finished = True
                            break
                        elif kind == "error":
                            error = payload.get("error") or {}
                            message = str(error.get("message") or error.get("type") or "unknown error")[:300]
                            code = "rate_limited" if error.get("type") == "rate_limit_error" else "server_error"
                            raise ProviderError(f"Anthropic reported an error mid-answer: {message}", code=code)
        except httpx.HTTPError as error:
            raise network_error("Anthropic", error) from None
        if not finished:
            raise ProviderError("The Anthropic stream ended before the answer was complete.", code="stream_cut")
        # Cached tokens are counted inside input_tokens, as with OpenAI, so one pricing rule serves both.
        yield Usage(input_tokens, output_tokens, cached_tokens)
        yield Finish(stop_reason or "end_turn")
