"""A real HTTP server on 127.0.0.1 that plays one provider's wire protocol, with switchable scenarios.
Used by tests (and benchmarks) so the real client code runs against real sockets and SSE chunking."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Scenario:
    """What the next requests get: `mode` is ok | 401 | 429 | 500 | cut | slow | error_event."""

    mode: str = "ok"
    text: str = "Hello from the fake provider. It streams in pieces."
    chunk_delay: float = 0.0
    input_tokens: int = 12
    output_tokens: int = 9
    cached_tokens: int = 0


@dataclass
class RecordedRequest:
    path: str
    headers: dict
    body: dict


@dataclass
class FakeProviderServer:
    """Subclasses implement `respond(handler, body)`; start() serves in a daemon thread."""

    scenario: Scenario = field(default_factory=Scenario)
    requests: list[RecordedRequest] = field(default_factory=list)
    port: int = 0

    def start(self) -> "FakeProviderServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet tests
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b"{}"
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                server.requests.append(RecordedRequest(self.path, dict(self.headers), body))
                server.respond(self, body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        # A connection cut on purpose ("cut" scenario) is not an error worth a traceback.
        self.httpd.handle_error = lambda request, client_address: None
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # helpers for subclasses

    def chunks(self) -> list[str]:
        """The scenario text in word-sized pieces, spaces kept."""
        words = self.scenario.text.split(" ")
        return [word + (" " if i < len(words) - 1 else "") for i, word in enumerate(words)]

    @staticmethod
    def send_json(handler, status: int, payload: dict, extra_headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (extra_headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    @staticmethod
    def start_stream(handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()

    @staticmethod
    def write_chunk(handler, text: str) -> None:
        """One HTTP chunk (so an SSE event may arrive split across reads, as on the real wire)."""
        data = text.encode()
        handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        handler.wfile.flush()

    @staticmethod
    def end_stream(handler) -> None:
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()

    def pause(self) -> None:
        delay = self.scenario.chunk_delay if self.scenario.mode != "slow" else max(self.scenario.chunk_delay, 0.1)
        if delay:
            time.sleep(delay)

    def cut(self, handler) -> None:
        """Close the connection mid-stream, without the terminal chunk."""
        handler.wfile.flush()
        handler.close_connection = True
        try:
            import socket

            handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def respond(self, handler, body: dict) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


def serve_forever_cli(server_class) -> None:
    """`python -m tests.fakes.<provider>_server --port 0`: serve until interrupted, printing the URL."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between chunks")
    parser.add_argument("--text", default=None)
    args = parser.parse_args()
    scenario = Scenario(chunk_delay=args.delay)
    if args.text:
        scenario.text = args.text
    server = server_class(scenario=scenario, port=args.port).start()
    print(server.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
