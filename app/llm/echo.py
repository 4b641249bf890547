"""The offline demo model: answers deterministically from the last user message, in chunks, with a
short delay between them, and reports usage, so the app works with no key and no network.

The user's text comes back verbatim, unescaped: rendering is the app's job, and tests send hostile
text through this model to prove it. Markers in the message drive test scenarios:
`[[echo:fail]]` fails after a few chunks; `[[echo:slow]]` writes a long answer slowly.
"""
from __future__ import annotations

import time
from collections.abc import Iterator, Mapping

from app.llm.base import (
    Finish,
    GenerationRequest,
    Provider,
    ProviderError,
    StreamEvent,
    TextDelta,
    Usage,
)

FAIL_MARKER = "[[echo:fail]]"
SLOW_MARKER = "[[echo:slow]]"
WORDS_PER_CHUNK = 3
CHUNKS_BEFORE_FAILING = 3
CHUNK_DELAY = 0.03
SLOW_CHUNK_DELAY = 0.3
SLOW_FILLER_WORDS = 119  # "word1" … "word119": tests know the answer ends with the last one


def approximate_tokens(text: str) -> int:
    """Roughly what a tokenizer would count: four tokens for every three words, at least one."""
    return max(1, round(len(text.split()) * 4 / 3))


class EchoProvider(Provider):
    name = "echo"

    def __init__(self, chunk_delay: float = CHUNK_DELAY, slow_chunk_delay: float = SLOW_CHUNK_DELAY):
        """`chunk_delay` seconds between chunks; `slow_chunk_delay` between those of `[[echo:slow]]`."""
        self.chunk_delay = chunk_delay
        self.slow_chunk_delay = slow_chunk_delay

    @classmethod
    def from_config(cls, config: Mapping) -> EchoProvider:
        """Delays from ECHO_DELAY_SECONDS and ECHO_SLOW_DELAY_SECONDS (tests make them short)."""
        return cls(chunk_delay=float(config.get("ECHO_DELAY_SECONDS", CHUNK_DELAY)),
                   slow_chunk_delay=float(config.get("ECHO_SLOW_DELAY_SECONDS", SLOW_CHUNK_DELAY)))

    def compose_answer(self, prompt: str) -> str:
        """The whole answer to a prompt: the prompt back, then Markdown that shows off rendering."""
        parts = [
            f"You said: {prompt}",
            ("This is **Studio's demo model**. It runs offline and repeats what you write, so you can try "
             "the app without an API key."),
        ]
        lowered = prompt.lower()
        if "code" in lowered:
            parts.append('```python\ndef greet(name: str) -> str:\n    return f"Hello, {name}!"\n```')
        if "table" in lowered:
            parts.append("| model | provider | offline |\n| --- | --- | --- |\n| demo | echo | yes |\n"
                         "| gpt-4o-mini | openai | no |")
        if SLOW_MARKER in prompt:
            parts.append(" ".join(f"word{n}" for n in range(1, SLOW_FILLER_WORDS + 1)))
        return "\n\n".join(parts)

    def chunks(self, answer: str) -> list[str]:
        """The answer in groups of words; joined, they give the answer back exactly."""
        words = answer.split(" ")
        groups = [" ".join(words[start:start + WORDS_PER_CHUNK]) for start in range(0, len(words), WORDS_PER_CHUNK)]
        return [group + " " for group in groups[:-1]] + groups[-1:]

    def stream(self, request: GenerationRequest) -> Iterator[StreamEvent]:
        prompt = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        answer = self.compose_answer(prompt)
        delay = self.slow_chunk_delay if SLOW_MARKER in prompt else self.chunk_delay
        for number, piece in enumerate(self.chunks(answer), start=1):
            if delay:
                time.sleep(delay)
            yield TextDelta(piece)
            if FAIL_MARKER in prompt and number == CHUNKS_BEFORE_FAILING:
                # Nothing here came from elsewhere, so the user may read it as it is.
                raise ProviderError("The demo model was asked to fail.", code="server_error",
                                    user_message="The demo model was asked to fail.")
        prompt_text = " ".join(m.content for m in request.messages)
        yield Usage(input_tokens=approximate_tokens(prompt_text), output_tokens=approximate_tokens(answer))
        yield Finish("stop")
