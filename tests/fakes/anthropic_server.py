"""A fake Anthropic Messages endpoint (POST /v1/messages), in the shapes the real API sends:
`event: <type>` + `data: {...}` pairs (message_start with usage, content_block_start, ping,
content_block_delta text_delta / thinking_delta / signature_delta, content_block_stop, message_delta
with stop_reason and output usage, message_stop, or an in-stream `error` event); errors as
`{"type": "error", "error": {type, message}, "request_id"}` with a request-id header.

    python -m tests.fakes.anthropic_server --port 0  # prints the base URL, e.g. http://127.0.0.1:PORT
"""
from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

from tests.fakes.server import FakeProviderServer, serve_forever_cli

ERROR_TYPES = {
    401: ("authentication_error", "invalid x-api-key"),
    404: ("not_found_error", "Not Found"),
    429: ("rate_limit_error", ("This request would exceed the rate limit for your organization of 50 requests "
                               "per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.")),
    500: ("api_error", "Internal server error"),
}


def event(name: str, payload: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}\n\n"


class FakeAnthropicServer(FakeProviderServer):
    """A fake Anthropic Messages API server."""

    API_PATH = "/v1/messages"
    BASE_PATH = ""

    def error_body(self, status: int, detail: str) -> dict:
        kind, message = ERROR_TYPES[status]
        return {"type": "error", "error": {"type": kind, "message": detail or message},
                "request_id": f"req_fake{status}"}

    def context_error_body(self, prompt_tokens: int, max_tokens: int, window: int) -> dict:
        if prompt_tokens > window:
            message = f"prompt is too long: {prompt_tokens} tokens > {window} maximum"
        else:
            message = (f"input length and `max_tokens` exceed context limit: {prompt_tokens} + {max_tokens} > "
                       f"{window}, decrease input length or `max_tokens` and try again")
        return {"type": "error", "error": {"type": "invalid_request_error", "message": message},
                "request_id": "req_fake400"}

    @staticmethod
    def send_json(handler, status, payload, extra_headers=None) -> None:
        headers = {"request-id": payload.get("request_id", "req_fake"), **(extra_headers or {})}
        FakeProviderServer.send_json(handler, status, payload, headers)

    def stream_answer(self, handler: BaseHTTPRequestHandler, body: dict) -> bool | None:
        scenario = self.scenario
        self.write_event(handler, event("message_start", {"type": "message_start", "message": {
            "model": body.get("model", "claude-fake"), "id": "msg_fake0001", "type": "message",
            "role": "assistant", "content": [], "stop_reason": None, "stop_sequence": None,
            # Anthropic counts cache reads apart from input_tokens.
            "usage": {"input_tokens": self.prompt_tokens(body) - scenario.cached_tokens,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": scenario.cached_tokens,
                      "output_tokens": 1, "service_tier": "standard"}}}))
        self.think()
        index = 0
        if scenario.reasoning:
            self.write_event(handler, event("content_block_start", {
                "type": "content_block_start", "index": index,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""}}))
            for piece in self.text_pieces(scenario.reasoning):
                self.pause()
                self.write_event(handler, event("content_block_delta", {
                    "type": "content_block_delta", "index": index,
                    "delta": {"type": "thinking_delta", "thinking": piece}}))
            self.write_event(handler, event("content_block_delta", {
                "type": "content_block_delta", "index": index,
                "delta": {"type": "signature_delta", "signature": "ZmFrZS1zaWduYXR1cmU="}}))
            self.write_event(handler, event("content_block_stop", {"type": "content_block_stop", "index": index}))
            index += 1
        self.write_event(handler, event("content_block_start", {
            "type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}))
        self.write_event(handler, event("ping", {"type": "ping"}))
        pieces = self.text_pieces()
        for number, piece in enumerate(pieces):
            self.pause()
            self.write_event(handler, event("content_block_delta", {
                "type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}}),
                split=number == 1)
            if number == len(pieces) // 2:
                if scenario.mode == "cut":
                    return self.cut(handler)
                if scenario.mode == "truncate":
                    return None
                if scenario.mode == "error_event":
                    message = scenario.error_message or "Overloaded"
                    self.write_event(handler, event("error", {
                        "type": "error", "error": {"type": "overloaded_error", "message": message}}))
                    return None
        self.write_event(handler, event("content_block_stop", {"type": "content_block_stop", "index": index}))
        self.write_event(handler, event("message_delta", {
            "type": "message_delta", "delta": {"stop_reason": scenario.finish_reason or "end_turn",
                                               "stop_sequence": None},
            "usage": {"output_tokens": scenario.output_tokens}}))
        self.write_event(handler, event("message_stop", {"type": "message_stop"}))
        return None


if __name__ == "__main__":
    serve_forever_cli(FakeAnthropicServer)
