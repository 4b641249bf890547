"""A real HTTP server on 127.0.0.1 that plays one provider's wire protocol, with switchable scenarios.

Tests (and benchmarks) run the real client code against it: real sockets, chunked transfer, SSE
events split across network writes, connections cut mid-answer. Subclasses write the protocol.

    with FakeOpenAIServer() as fake:              # or fake = FakeOpenAIServer().start(); fake.stop()
        fake.scenario.mode = "429"
        ... GenerationRequest(base_url=fake.base_url, ...) ...
        fake.requests[-1].headers["authorization"]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

MODES = ("ok", "slow", "401", "429", "500", "cut", "truncate", "error_event", "silent")


@dataclass
class Scenario:
    """What the next requests get. Change it at any time; it is read per request.

    mode: ok | slow (ok, with `slow_delay` between chunks) | 401 | 429 | 500 (the real error bodies)
        | cut (half the text, then the connection is closed mid-body)
        | truncate (half the text, then the body ends cleanly without the terminal event)
        | error_event (some text, then the provider's in-stream error)
        | silent (the request is read, then nothing at all is sent, not even headers, until the
        server stops or `silent_seconds` pass: a provider that hangs).
    failures: modes for the next requests, one each (e.g. ["429", "500"]), before `mode` applies again.
    first_token_delay: seconds between the stream's opening event (headers sent) and its first
        delta, as a reasoning model thinks before it writes.
    replay: raw SSE bytes to send instead (a recording), in pieces of `replay_piece_size` bytes
        (None: one piece per line), each flushed as its own HTTP chunk.
    error_message: what the errors say (401/429/500 bodies, the in-stream error), e.g. a marker a
        test then looks for; None: the real provider's words.
    """

    mode: str = "ok"
    failures: list[str] = field(default_factory=list)
    first_token_delay: float = 0.0
    silent_seconds: float = 60.0
    reasoning_tokens: int = 0  # a part of output_tokens, as OpenAI reports them
    text: str = "Hello from the fake provider. It streams in pieces."
    reasoning: str = ""  # streamed as reasoning / thinking before the text, when set
    chunk_delay: float = 0.0
    slow_delay: float = 0.1
    input_tokens: int = 12  # including the cached ones, as OpenAI counts
    output_tokens: int = 9
    cached_tokens: int = 0
    finish_reason: str | None = None  # None: the protocol's normal one (stop / end_turn)
    replay: bytes | None = None
    replay_piece_size: int | None = None
    error_message: str | None = None  # the provider's words in error bodies and error events, instead of the real ones
    # A context window to enforce, in the fake's own tokens (see `count_tokens`): a longer request
    # (its messages plus the max_tokens asked for) gets the provider's real "too long" 400, and
    # usage then reports the counted input tokens instead of `input_tokens`.
    context_window: int | None = None
    chars_per_token: float = 4.0  # the fake tokenizer: ASCII characters per token


def count_tokens(texts: list[str], chars_per_token: float = 4.0) -> int:
    """The fake tokenizer: a length-based count, 3 tokens per message and 3 per request."""
    return 3 + sum(int(len(text) / chars_per_token) + 3 for text in texts)


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]  # names in lower case
    body: dict


class _QuietThreadingHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # benchmarks open hundreds of streams at once; the default backlog is 5

    def handle_error(self, request, client_address) -> None:
        pass  # connections cut on purpose ("cut") or dropped by a stopping client are not errors here


class LocalHTTPServer:
    """An HTTP server on 127.0.0.1 in a daemon thread, from start() (or `with`) until stop(), that
    tracks its connections so stop() can close them. Subclasses list the `METHODS` they answer and
    implement `handle(handler, method)`."""

    METHODS: tuple[str, ...] = ("POST",)

    def __init__(self, port: int = 0):
        self.port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with fake._lock:
                    fake._connections.add(self.connection)

            def finish(self) -> None:
                with fake._lock:
                    fake._connections.discard(self.connection)
                super().finish()

        for method in self.METHODS:  # do_GET, do_POST...: any other method is answered 501
            setattr(Handler, f"do_{method}", lambda handler, method=method: fake.handle(handler, method))
        self._httpd = _QuietThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening and close every connection still open. Clients pool kept-alive connections:
        left open, one could later reach this dead fake through a port the system gave to a new one."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """http://127.0.0.1:<port>."""
        return f"http://127.0.0.1:{self.port}"


class FakeProviderServer(LocalHTTPServer):
    """Serves in a daemon thread. Subclasses set `API_PATH` and implement `stream_answer()` and
    `error_body()`; this class handles HTTP, recording, scenarios and replay."""

    API_PATH = "/"
    BASE_PATH = ""  # what follows host:port in the base URL a client is configured with

    def __init__(self, scenario: Scenario | None = None, port: int = 0):
        super().__init__(port)
        self.scenario = scenario or Scenario()
        self.requests: list[RecordedRequest] = []

    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        self.requests.append(RecordedRequest(handler.path, {k.lower(): v for k, v in handler.headers.items()}, body))
        self.respond(handler, body)

    @property
    def base_url(self) -> str:
        """What a model's base URL is set to, to reach this server."""
        return self.url + self.BASE_PATH

    # dispatch

    def respond(self, handler: BaseHTTPRequestHandler, body: dict) -> None:
        scenario = self.scenario
        with self._lock:
            mode = scenario.failures.pop(0) if scenario.failures else scenario.mode
        if handler.path.split("?")[0] != self.API_PATH:
            self.send_json(handler, 404, self.error_body(404, f"Unknown path {handler.path}"))
        elif mode == "silent":
            self._stopping.wait(scenario.silent_seconds)
            handler.close_connection = True
        elif mode in ("401", "429", "500"):
            status = int(mode)
            extra = {"retry-after": "1"} if status == 429 else {}
            self.send_json(handler, status, self.error_body(status, scenario.error_message or ""), extra)
        elif self.context_error(handler, body):
            pass
        elif scenario.replay is not None:
            self.start_stream(handler)
            for piece in self._replay_pieces(scenario):
                self.write_chunk(handler, piece)
            self.end_stream(handler)
        else:
            self.start_stream(handler)
            if self.stream_answer(handler, body) is not False:
                self.end_stream(handler)

    def stream_answer(self, handler: BaseHTTPRequestHandler, body: dict) -> bool | None:
        """Write the answer's events for the scenario; return False when the connection was cut."""
        raise NotImplementedError

    def prompt_texts(self, body: dict) -> list[str]:
        """The texts of a request's messages (and system prompt), as the provider counts them."""
        texts = [body["system"]] if isinstance(body.get("system"), str) else []
        return texts + [str(m.get("content", "")) for m in body.get("messages") or [] if isinstance(m, dict)]

    def prompt_tokens(self, body: dict) -> int:
        """The input tokens of a request: counted when a context window is enforced, else the scenario's."""
        if self.scenario.context_window is None:
            return self.scenario.input_tokens
        return count_tokens(self.prompt_texts(body), self.scenario.chars_per_token)

    def context_error(self, handler: BaseHTTPRequestHandler, body: dict) -> bool:
        """Answer 400 as the provider does when the request does not fit the window; True if it did."""
        window = self.scenario.context_window
        if window is None:
            return False
        prompt = self.prompt_tokens(body)
        asked = int(body.get("max_tokens") or body.get("max_completion_tokens") or 0)
        if prompt + asked <= window:
            return False
        self.send_json(handler, 400, self.context_error_body(prompt, asked, window))
        return True

    def context_error_body(self, prompt_tokens: int, max_tokens: int, window: int) -> dict:
        """The provider's JSON body for a request longer than its context window."""
        raise NotImplementedError

    def error_body(self, status: int, detail: str) -> dict:
        """The provider's JSON error body for an HTTP status."""
        raise NotImplementedError

    # helpers for subclasses

    def text_pieces(self, text: str | None = None) -> list[str]:
        """Text in word-sized pieces, spaces kept, so that joined they give the text back."""
        words = (self.scenario.text if text is None else text).split(" ")
        return [word + (" " if i < len(words) - 1 else "") for i, word in enumerate(words)]

    def think(self) -> None:
        """Wait `first_token_delay` before the first delta (sooner if the server stops)."""
        if self.scenario.first_token_delay:
            self._stopping.wait(self.scenario.first_token_delay)

    def pause(self) -> None:
        delay = max(self.scenario.chunk_delay, self.scenario.slow_delay) if self.scenario.mode == "slow" \
            else self.scenario.chunk_delay
        if delay:
            time.sleep(delay)

    @staticmethod
    def send_json(handler: BaseHTTPRequestHandler, status: int, payload: dict,
                  extra_headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (extra_headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)
        handler.wfile.flush()

    @staticmethod
    def start_stream(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream; charset=utf-8")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        handler.wfile.flush()

    @staticmethod
    def write_chunk(handler: BaseHTTPRequestHandler, data: str | bytes) -> None:
        """One HTTP chunk, flushed: the client reads it as its own network piece."""
        raw = data.encode() if isinstance(data, str) else data
        if raw:
            handler.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
            handler.wfile.flush()

    def write_event(self, handler: BaseHTTPRequestHandler, event: str, split: bool = False) -> None:
        """An SSE event; `split` sends it in two network pieces cut mid-line, as proxies sometimes do."""
        if split:
            middle = len(event) // 2
            self.write_chunk(handler, event[:middle])
            self.write_chunk(handler, event[middle:])
        else:
            self.write_chunk(handler, event)

    @staticmethod
    def end_stream(handler: BaseHTTPRequestHandler) -> None:
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()

    @staticmethod
    def cut(handler: BaseHTTPRequestHandler) -> bool:
        """Close the connection mid-body, without the terminal chunk. Returns False for stream_answer."""
        handler.wfile.flush()
        handler.close_connection = True
        with contextlib.suppress(OSError):
            handler.connection.shutdown(socket.SHUT_RDWR)
        return False

    @staticmethod
    def _replay_pieces(scenario: Scenario) -> list[bytes]:
        data = scenario.replay or b""
        if scenario.replay_piece_size is None:
            return data.splitlines(keepends=True)
        size = scenario.replay_piece_size
        return [data[start:start + size] for start in range(0, len(data), size)]


def serve_forever_cli(server_class: type[FakeProviderServer]) -> None:
    """`python -m tests.fakes.<provider>_server [--port 0] [--mode ok] [--delay 0.02] [--text ...]`:
    serve until interrupted, after printing the base URL to use on one line."""
    parser = argparse.ArgumentParser(description=server_class.__doc__)
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--mode", choices=MODES, default="ok")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between chunks")
    parser.add_argument("--text", default=None, help="the answer to stream")
    args = parser.parse_args()
    scenario = Scenario(mode=args.mode, chunk_delay=args.delay)
    if args.text is not None:
        scenario.text = args.text
    fake = server_class(scenario=scenario, port=args.port).start()
    print(fake.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()
