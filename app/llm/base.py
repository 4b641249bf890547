"""The one small interface every LLM provider implements: a request in, a stream of events out.

A provider's `stream()` yields TextDelta / ReasoningDelta as they arrive, then at most one Usage
(when the provider reported it) and exactly one Finish. Every failure, whether an HTTP error, a
network error, an error event in the stream or a stream that ends before its terminal event,
surfaces as ProviderError, after any deltas that did arrive (the caller keeps the partial text).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class ChatMessage:
    role: str  # system | user | assistant
    content: str


@dataclass
class GenerationRequest:
    """One call to a model. Options left as None are not sent, so the provider's defaults apply."""

    model_id: str
    messages: list[ChatMessage]
    base_url: str | None = None  # None: the provider's public endpoint
    api_key: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    # Reasoning options, sent only when set (the caller sets only what the model accepts):
    # OpenAI's reasoning_effort (low | medium | high), Anthropic's extended thinking budget in tokens.
    reasoning_effort: str | None = None
    thinking_budget_tokens: int | None = None
    timeout: float = 60.0  # seconds to connect, and the longest silence allowed while streaming


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True)
class Usage:
    """Token counts. `cached_input_tokens` is a part of `input_tokens`, never added to it
    (OpenAI's convention; the Anthropic provider converts to it)."""

    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0
    # A part of output_tokens (priced with them), when the provider reports it apart (OpenAI).
    reasoning_tokens: int = 0


@dataclass(frozen=True)
class Finish:
    reason: str  # the provider's own word: stop, length, end_turn, max_tokens, tool_calls…


StreamEvent = TextDelta | ReasoningDelta | Usage | Finish


class ProviderError(Exception):
    """A provider call failed.

    `code` is one of: auth, rate_limited, bad_request, not_found, server_error, network, stream_cut,
    timeout (the model's first-token or idle limit passed),
    refused (the registry row may not be used: its key variable or its address is not allowed),
    context_length (the request is longer than the model's context window; `prompt_tokens` and
    `context_limit` carry the provider's counts when it gave them).
    `message` is the whole explanation, for admins and logs: it may quote the provider's own words
    or name its host, never the API key.
    `user_message` is what any user may be shown: the status at most, no provider text, no address.
    `status_code` is the HTTP status when there was one.
    `is_retryable`: sending the same request again may succeed (a 429, a 5xx, a refused connection);
    `retry_after`: the seconds the provider asked to wait first (its Retry-After), when it said.
    """

    def __init__(self, message: str, *, code: str, status_code: int | None = None, user_message: str | None = None,
                 prompt_tokens: int | None = None, context_limit: int | None = None, is_retryable: bool = False,
                 retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status_code = status_code
        self.user_message = user_message or generic_user_message(code, status_code)
        self.prompt_tokens = prompt_tokens
        self.context_limit = context_limit
        self.is_retryable = is_retryable
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"ProviderError(code={self.code!r}, status_code={self.status_code!r}, message={self.message!r})"


def generic_user_message(code: str, status_code: int | None) -> str:
    """The sentence a user sees for a failed call: what happened, never what the provider wrote."""
    if code == "refused":
        return "This model is not set up correctly. An admin can see the details."
    if code == "context_length":
        return "The conversation is too long for this model's context window, even with earlier messages left out."
    if status_code is not None:
        return f"The model's provider returned an error (HTTP {status_code}). An admin can see the details."
    if code == "network":
        return "The model's provider could not be reached. An admin can see the details."
    if code == "stream_cut":
        return "The model's provider ended the answer before it was complete. An admin can see the details."
    return "The model's provider returned an error. An admin can see the details."


class Provider(ABC):
    """Stateless: one instance may serve any number of requests, from any thread."""

    name: ClassVar[str]

    @classmethod
    def from_config(cls, config: Mapping) -> Provider:
        """A provider set up from the app's settings (a plain mapping, e.g. Flask's `app.config`)."""
        return cls()

    @abstractmethod
    def stream(self, request: GenerationRequest) -> Iterator[StreamEvent]:
        """Yield deltas as they arrive, then at most one Usage and exactly one Finish.
        Raise ProviderError on any failure, including a stream that ends before its terminal event.
        Closing the iterator early (the user pressed stop) closes the connection to the provider."""
