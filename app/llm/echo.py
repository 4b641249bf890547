"""The offline demo model: answers deterministically, in chunks, with a short delay, and reports usage."""
from __future__ import annotations

import os
import time
from collections.abc import Iterator

from app.llm.base import Finish, GenerationRequest, Provider, ProviderError, StreamEvent, TextDelta, Usage

FAIL_MARKER = "[[echo:fail]]"
SLOW_MARKER = "[[echo:slow]]"


def _approximate_tokens(text: str) -> int:
    return max(1, round(len(text.split()) * 4 / 3))


class EchoProvider(Provider):
    name = "echo"

    def __init__(self, chunk_delay: float = 0.03):
        from_env = os.environ.get("STUDIO_ECHO_DELAY")
        self.chunk_delay = float(from_env) if from_env else chunk_delay

    def compose_answer(self, prompt: str) -> str:
        """The demo's answer to a prompt: the prompt back, and Markdown to show off rendering."""
        answer = f"You said: {prompt}\n\nThis is **Studio's demo model**. It runs offline and repeats what you write, so you can try the app without an API key."
        lowered = prompt.lower()
        if "code" in lowered:
            answer += "\n\n```python\ndef greet(name: str) -> str:\n    return f\"Hello, {name}!\"\n```"
        if "table" in lowered:
            answer += "\n\n| model | provider | offline |\n| --- | --- | --- |\n| demo | echo | yes |\n| gpt-4o-mini | openai | no |"
        if SLOW_MARKER in prompt:
            answer += "\n\n" + " ".join(f"word{n}" for n in range(1, 120))
        return answer

    def stream(self, request: GenerationRequest) -> Iterator[StreamEvent]:
        prompt = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        answer = self.compose_answer(prompt)
        delay = float(os.environ.get("STUDIO_ECHO_SLOW_DELAY", 0.3)) if SLOW_MARKER in prompt else self.chunk_delay
        words = answer.split(" ")
        chunk_size = 3
        sent = 0
        for start in range(0, len(words), chunk_size):
            piece = " ".join(words[start:start + chunk_size])
            if start + chunk_size < len(words):
                piece += " "
            if delay:
                time.sleep(delay)
            yield TextDelta(piece)
            sent += 1
            if FAIL_MARKER in prompt and sent == 3:
                raise ProviderError("The demo model was asked to fail.", code="server_error", status_code=500)
        prompt_text = " ".join(m.content for m in request.messages)
        yield Usage(input_tokens=_approximate_tokens(prompt_text), output_tokens=_approximate_tokens(answer))
        yield Finish("stop")
