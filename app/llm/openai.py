"""OpenAI-compatible Chat Completions, streaming: OpenAI itself and every server that copies its API
(Ollama, vLLM, llama.cpp server, LM Studio, OpenRouter…), chosen by the base URL."""
from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlsplit

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

DEFAULT_BASE_URL = "https://api.openai.com/v1"
LABEL = "the provider"  # any OpenAI-compatible server, so not named
SAMPLING_OPTIONS = ("temperature", "top_p", "frequency_penalty", "presence_penalty")


class OpenAIProvider(HTTPProvider):
    name = "openai"

    def body(self, request: GenerationRequest) -> dict:
        """The JSON body: the messages as they are, and only the options that were set."""
        body: dict = {
            "model": request.model_id,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        body.update({name: getattr(request, name) for name in SAMPLING_OPTIONS if getattr(request, name) is not None})
        if request.max_tokens is not None:
            body[_max_tokens_field(request.base_url)] = request.max_tokens
        if request.reasoning_effort is not None:
            body["reasoning_effort"] = request.reasoning_effort
        return body

    def stream(self, request: GenerationRequest) -> Iterator[StreamEvent]:
        url = (request.base_url or DEFAULT_BASE_URL).rstrip("/") + "/chat/completions"
        headers = {"Accept": "text/event-stream"}
        if request.api_key:
            headers["Authorization"] = f"Bearer {request.api_key}"
        usage: Usage | None = None
        finish_reason: str | None = None
        done = False
        with self.post_events(request, url, headers, LABEL) as events:
            for event in events:
                if event.data.strip() == "[DONE]":
                    done = True
                    break
                chunk = json_object(event.data)
                if chunk is None:
                    continue  # not a chunk (some servers send keep-alive text); nothing to show
                if chunk.get("error"):
                    raise _error_in_stream(chunk["error"], request.api_key)
                if chunk.get("usage"):
                    # Some servers repeat usage on every chunk: the last one is the total.
                    usage = _usage(chunk["usage"])
                for choice in chunk.get("choices") or []:
                    if choice.get("index", 0) != 0:
                        continue  # only one answer is asked for; ignore extra choices if a server sends them
                    delta = choice.get("delta") or {}
                    # vLLM, DeepSeek and llama.cpp say reasoning_content; Ollama and OpenRouter say reasoning.
                    reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                    if isinstance(reasoning, str) and reasoning:
                        yield ReasoningDelta(reasoning)
                    # A refusal is the model's answer to the user, so it is shown like text.
                    text = delta.get("content") or delta.get("refusal")
                    if isinstance(text, str) and text:
                        yield TextDelta(text)
                    if choice.get("finish_reason"):
                        finish_reason = choice["finish_reason"]
        # [DONE] is the terminal event; a finish_reason also proves the answer is whole, for servers
        # that close without [DONE]. Neither means the connection was lost mid-answer.
        if not done and finish_reason is None:
            raise stream_cut_error(LABEL)
        if usage is not None:
            yield usage
        yield Finish(finish_reason or "stop")


def _max_tokens_field(base_url: str | None) -> str:
    # OpenAI's own API replaced max_tokens with max_completion_tokens and refuses the old name for its
    # reasoning models; compatible servers (Ollama, llama.cpp, older vLLM) only know max_tokens.
    host = urlsplit(base_url or DEFAULT_BASE_URL).hostname or ""
    return "max_completion_tokens" if host == "api.openai.com" else "max_tokens"


def _usage(raw: dict) -> Usage:
    cached = (raw.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    # Reasoning tokens are a part of completion_tokens (and priced with them); kept apart to be shown.
    reasoning = (raw.get("completion_tokens_details") or {}).get("reasoning_tokens")
    return Usage(int(raw.get("prompt_tokens") or 0), int(raw.get("completion_tokens") or 0), int(cached),
                 int(reasoning) if isinstance(reasoning, int) else 0)


def _error_in_stream(error: object, api_key: str | None) -> ProviderError:
    """An error sent as a chunk after the stream began (OpenAI, OpenRouter, vLLM do this)."""
    detail = provider_detail(json.dumps({"error": error}), api_key)
    return ProviderError(f"The provider reported an error mid-answer{': ' + detail if detail else '.'}",
                         code="server_error")
