"""OpenAI-compatible Chat Completions, streaming (OpenAI, Ollama, vLLM, llama.cpp, LM Studio, OpenRouter…)."""
from __future__ import annotations

import json
from collections.abc import Iterator

import httpx

from app.llm.base import Finish, GenerationRequest, Provider, ProviderError, ReasoningDelta, StreamEvent, TextDelta, Usage
from app.llm.sse import iter_sse, network_error, raise_for_status

DEFAULT_BASE_URL = "https://api.openai.com/v1"
OPTION_NAMES = ("temperature", "top_p", "max_tokens", "frequency_penalty", "presence_penalty")


class OpenAIProvider(Provider):
    name = "openai"

    def body(self, request: GenerationRequest) -> dict:
        body = {
            "model": request.model_id,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        body.update({name: getattr(request, name) for name in OPTION_NAMES if getattr(request, name) is not None})
        return body

    def stream(self, request: GenerationRequest) -> Iterator[StreamEvent]:
        url = (request.base_url or DEFAULT_BASE_URL).rstrip("/") + "/chat/completions"
        headers = {"Accept": "text/event-stream"}
        if request.api_key:
            headers["Authorization"] = f"Bearer {request.api_key}"
        finish_reason = None
        usage = None
        done = False
        try:
            with httpx.Client(timeout=httpx.Timeout(request.timeout, connect=10)) as client:
                with client.stream("POST", url, json=self.body(request), headers=headers) as response:
                    raise_for_status(response, "The provider")
                    for _event, data in iter_sse(response.iter_lines()):
                        if data.strip() == "[DONE]":
                            done = True
                            break
                        try:
                            chunk = json.loads(data)
                        except ValueError:
                            continue
                        if "error" in chunk:
                            message = str((chunk["error"] or {}).get("message", ""))[:300]
                            raise ProviderError(f"The provider reported an error: {message}", code="server_error")
                        if chunk.get("usage"):
                            raw = chunk["usage"]
                            cached = ((raw.get("prompt_tokens_details") or {}).get("cached_tokens")) or 0
                            usage = Usage(raw.get("prompt_tokens") or 0, raw.get("completion_tokens") or 0, cached)
                        for choice in chunk.get("choices") or []:
                            delta = choice.get("delta") or {}
                            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                            if reasoning:
                                yield ReasoningDelta(reasoning)
                            if delta.get("content"):
                                yield TextDelta(delta["content"])
                            if choice.get("finish_reason"):
                                finish_reason = choice["finish_reason"]
        except httpx.HTTPError as error:
            raise network_error("provider", error) from None
        if not done and finish_reason is None:
            raise ProviderError("The provider's stream ended before the answer was complete.", code="stream_cut")
        if usage is not None:
            yield usage
        yield Finish(finish_reason or "stop")
