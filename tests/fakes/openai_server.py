"""A fake OpenAI Chat Completions endpoint: the chunk, usage and error shapes of the real API."""
from __future__ import annotations

import json

from tests.fakes.server import FakeProviderServer, serve_forever_cli

ERRORS = {
    "401": {"error": {"message": "Incorrect API key provided: sk-te*****. You can find your API key at https://platform.openai.com/account/api-keys.",
                      "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}},
    "429": {"error": {"message": "Rate limit reached for gpt-4o-mini in organization org-test on tokens per min (TPM): Limit 10000, Used 9348, Requested 5086. Please try again in 26.604s.",
                      "type": "tokens", "param": None, "code": "rate_limit_exceeded"}},
    "500": {"error": {"message": "The server had an error while processing your request. Sorry about that!",
                      "type": "server_error", "param": None, "code": None}},
}


class FakeOpenAIServer(FakeProviderServer):
    def chunk(self, model: str, delta: dict, finish_reason=None) -> str:
        payload = {"id": "chatcmpl-fake123", "object": "chat.completion.chunk", "created": 1727346168, "model": model,
                   "system_fingerprint": "fp_fake", "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                                                 "finish_reason": finish_reason}]}
        return f"data: {json.dumps(payload)}\n\n"

    def respond(self, handler, body: dict) -> None:
        mode = self.scenario.mode
        if mode in ERRORS:
            self.send_json(handler, int(mode), ERRORS[mode])
            return
        model = body.get("model", "gpt-test")
        self.start_stream(handler)
        self.write_chunk(handler, self.chunk(model, {"role": "assistant", "content": "", "refusal": None}))
        pieces = self.chunks()
        for number, piece in enumerate(pieces):
            self.pause()
            event = self.chunk(model, {"content": piece})
            if number == 1:
                # One event split across two network chunks, as real proxies do.
                self.write_chunk(handler, event[:17])
                self.write_chunk(handler, event[17:])
            else:
                self.write_chunk(handler, event)
            if mode == "cut" and number == len(pieces) // 2:
                self.cut(handler)
                return
        self.write_chunk(handler, self.chunk(model, {}, "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": self.scenario.input_tokens, "completion_tokens": self.scenario.output_tokens,
                     "total_tokens": self.scenario.input_tokens + self.scenario.output_tokens,
                     "prompt_tokens_details": {"cached_tokens": self.scenario.cached_tokens},
                     "completion_tokens_details": {"reasoning_tokens": 0}}
            payload = {"id": "chatcmpl-fake123", "object": "chat.completion.chunk", "created": 1727346168,
                       "model": model, "choices": [], "usage": usage}
            self.write_chunk(handler, f"data: {json.dumps(payload)}\n\n")
        self.write_chunk(handler, "data: [DONE]\n\n")
        self.end_stream(handler)


if __name__ == "__main__":
    serve_forever_cli(FakeOpenAIServer)
