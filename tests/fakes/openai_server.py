"""A fake OpenAI Chat Completions endpoint (POST /v1/chat/completions), in the shapes the real API
sends: `data: {chat.completion.chunk}` lines, a first chunk with the role, a last chunk with
finish_reason, a usage-only chunk (`choices: []`) when `stream_options.include_usage` is set, then
`data: [DONE]`; errors as `{"error": {message, type, param, code}}`.

    python -m tests.fakes.openai_server --port 0     # prints the base URL, e.g. http://127.0.0.1:PORT/v1
"""
from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

from tests.fakes.server import FakeProviderServer, serve_forever_cli

CHUNK_ID = "chatcmpl-fake0000000000000000000001"
CREATED = 1727346168


def error_body(message: str, type_: str, code: str | None) -> dict:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


ERRORS = {
    401: error_body("Incorrect API key provided: sk-fake*****. You can find your API key at "
                    "https://platform.openai.com/account/api-keys.", "invalid_request_error", "invalid_api_key"),
    429: error_body("Rate limit reached for gpt-fake in organization org-fake on tokens per min (TPM): "
                    "Limit 30000, Used 29500, Requested 1200. Please try again in 1.4s.", "tokens",
                    "rate_limit_exceeded"),
    500: error_body("The server had an error while processing your request. Sorry about that!", "server_error", None),
}


class FakeOpenAIServer(FakeProviderServer):
    """A fake OpenAI-compatible Chat Completions server."""

    API_PATH = "/v1/chat/completions"
    BASE_PATH = "/v1"

    def error_body(self, status: int, detail: str) -> dict:
        if status == 404:
            return error_body(detail, "invalid_request_error", "unknown_url")
        if detail:
            return {"error": {**ERRORS[status]["error"], "message": detail}}
        return ERRORS[status]

    def context_error_body(self, prompt_tokens: int, max_tokens: int, window: int) -> dict:
        # The real shape: type invalid_request_error, param messages, code context_length_exceeded.
        return {"error": {"message": f"This model's maximum context length is {window} tokens. However, you "
                                     f"requested {prompt_tokens + max_tokens} tokens ({prompt_tokens} in the messages, "
                                     f"{max_tokens} in the completion). Please reduce the length of the messages or "
                                     "completion.",
                          "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}

    def chunk(self, model: str, delta: dict, finish_reason: str | None = None) -> str:
        payload = {"id": CHUNK_ID, "object": "chat.completion.chunk", "created": CREATED, "model": model,
                   "system_fingerprint": "fp_fake", "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                                                 "finish_reason": finish_reason}]}
        # Raw UTF-8, not \u escapes, as the real API sends non-ASCII text.
        return f"data: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}\n\n"

    def stream_answer(self, handler: BaseHTTPRequestHandler, body: dict) -> bool | None:
        scenario = self.scenario
        model = body.get("model", "gpt-fake")
        self.write_event(handler, self.chunk(model, {"role": "assistant", "content": "", "refusal": None}))
        self.think()
        for piece in self.text_pieces(scenario.reasoning) if scenario.reasoning else []:
            self.pause()
            self.write_event(handler, self.chunk(model, {"reasoning_content": piece}))
        pieces = self.text_pieces()
        for number, piece in enumerate(pieces):
            self.pause()
            self.write_event(handler, self.chunk(model, {"content": piece}), split=number == 1)
            if number == len(pieces) // 2:
                if scenario.mode == "cut":
                    return self.cut(handler)
                if scenario.mode == "truncate":
                    return None
                if scenario.mode == "error_event":
                    error = error_body(scenario.error_message or "The server had an error while processing your "
                                       "request.", "server_error", None)
                    self.write_event(handler, f"data: {json.dumps(error)}\n\n")
                    return None
        self.write_event(handler, self.chunk(model, {}, scenario.finish_reason or "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            prompt_tokens = self.prompt_tokens(body)
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": scenario.output_tokens,
                     "total_tokens": prompt_tokens + scenario.output_tokens,
                     "prompt_tokens_details": {"cached_tokens": scenario.cached_tokens, "audio_tokens": 0},
                     "completion_tokens_details": {"reasoning_tokens": scenario.reasoning_tokens}}
            payload = {"id": CHUNK_ID, "object": "chat.completion.chunk", "created": CREATED, "model": model,
                       "system_fingerprint": "fp_fake", "choices": [], "usage": usage}
            self.write_event(handler, f"data: {json.dumps(payload, separators=(',', ':'))}\n\n")
        self.write_event(handler, "data: [DONE]\n\n")
        return None


if __name__ == "__main__":
    serve_forever_cli(FakeOpenAIServer)
