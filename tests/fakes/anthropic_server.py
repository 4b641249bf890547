"""A fake Anthropic Messages endpoint: the event names, usage and error shapes of the real API."""
from __future__ import annotations

import json

from tests.fakes.server import FakeProviderServer, serve_forever_cli

ERRORS = {
    "401": {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"},
            "request_id": "req_fake401"},
    "429": {"type": "error", "error": {"type": "rate_limit_error",
                                       "message": "This request would exceed your organization's rate limit."},
            "request_id": "req_fake429"},
    "500": {"type": "error", "error": {"type": "api_error", "message": "Internal server error"},
            "request_id": "req_fake500"},
}


def event(name: str, payload: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(payload)}\n\n"


class FakeAnthropicServer(FakeProviderServer):
    def respond(self, handler, body: dict) -> None:
        mode = self.scenario.mode
        if mode in ERRORS:
            self.send_json(handler, int(mode), ERRORS[mode], {"request-id": ERRORS[mode]["request_id"]})
            return
        scenario = self.scenario
        self.start_stream(handler)
        self.write_chunk(handler, event("message_start", {"type": "message_start", "message": {
            "model": body.get("model", "claude-test"), "id": "msg_fake", "type": "message", "role": "assistant",
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": scenario.input_tokens - scenario.cached_tokens, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": scenario.cached_tokens, "output_tokens": 1}}}))
        self.write_chunk(handler, event("content_block_start", {"type": "content_block_start", "index": 0,
                                                                "content_block": {"type": "text", "text": ""}}))
        self.write_chunk(handler, event("ping", {"type": "ping"}))
        pieces = self.chunks()
        for number, piece in enumerate(pieces):
            self.pause()
            self.write_chunk(handler, event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                                    "delta": {"type": "text_delta", "text": piece}}))
            if mode == "cut" and number == len(pieces) // 2:
                self.cut(handler)
                return
            if mode == "error_event" and number == 1:
                self.write_chunk(handler, event("error", {"type": "error", "error": {
                    "type": "overloaded_error", "message": "Overloaded"}}))
                self.end_stream(handler)
                return
        self.write_chunk(handler, event("content_block_stop", {"type": "content_block_stop", "index": 0}))
        self.write_chunk(handler, event("message_delta", {"type": "message_delta", "delta": {
            "stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": scenario.output_tokens}}))
        self.write_chunk(handler, event("message_stop", {"type": "message_stop"}))
        self.end_stream(handler)


if __name__ == "__main__":
    serve_forever_cli(FakeAnthropicServer)
