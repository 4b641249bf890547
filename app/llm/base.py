"""The one small interface every LLM provider implements: stream events for a request."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ChatMessage:
    role: str  # system | user | assistant
    content: str


@dataclass
class GenerationRequest:
    model_id: str
    messages: list[ChatMessage]
    base_url: str | None = None
    api_key: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    timeout: float = 60.0
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0


@dataclass(frozen=True)
class Finish:
    reason: str


StreamEvent = TextDelta | ReasoningDelta | Usage | Finish


class ProviderError(Exception):
    """A provider call failed; `message` is readable by a person and never contains the key."""

    def __init__(self, message: str, *, code: str, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status_code = status_code


class Provider(ABC):
    name: str

    @abstractmethod
    def stream(self, request: GenerationRequest) -> Iterator[StreamEvent]:
        """Yield deltas as they arrive, then at most one Usage and one Finish; raise ProviderError."""
