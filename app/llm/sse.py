"""Server-Sent Events decoding from raw bytes, as they come off the network.

Lines are split on CR LF, LF or CR only (the SSE rule). Generic line splitters such as
`str.splitlines()`, which `httpx.Response.iter_lines()` follows, also break on U+2028, U+2029 and
U+0085, which may legally appear unescaped inside a JSON string on a `data:` line; a model that
writes one would lose that piece of its answer. Bytes are decoded as UTF-8 one complete line at a
time, so a character split across network reads is never damaged.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

_LINE_END = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class ServerSentEvent:
    event: str | None  # the `event:` field; None when the event did not name itself
    data: str  # the `data:` lines joined with "\n"


class SSEDecoder:
    """Incremental decoder: `feed()` bytes in any pieces, get the events they complete;
    `close()` at the end of the body for an event whose last line had no line ending."""

    def __init__(self) -> None:
        self._buffer = b""
        self._started = False
        self._cr_at_end = False  # the last piece ended in CR: a LF opening the next one belongs to it
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, piece: bytes) -> list[ServerSentEvent]:
        if not piece:
            return []
        if not self._started:
            self._started = True
            piece = piece.removeprefix(_BOM)
        if self._cr_at_end and piece.startswith(b"\n"):
            piece = piece[1:]
        self._cr_at_end = False
        if not piece:
            return []
        buffer = self._buffer + piece
        events: list[ServerSentEvent] = []
        start = 0
        for line_end in _LINE_END.finditer(buffer):
            self._take_line(buffer[start:line_end.start()], events)
            start = line_end.end()
            self._cr_at_end = line_end.group() == b"\r" and start == len(buffer)
        self._buffer = buffer[start:]
        return events

    def close(self) -> list[ServerSentEvent]:
        """Events still pending when the body ends. A trailing line without its line ending counts
        (some recordings end so); an event whose data was never started is dropped."""
        events: list[ServerSentEvent] = []
        if self._buffer:
            self._take_line(self._buffer, events)
            self._buffer = b""
        self._take_line(b"", events)
        return events

    def _take_line(self, raw: bytes, events: list[ServerSentEvent]) -> None:
        line = raw.decode("utf-8", errors="replace")
        if not line:
            if self._data:
                events.append(ServerSentEvent(self._event, "\n".join(self._data)))
            self._event, self._data = None, []
            return
        if line.startswith(":"):
            return  # a comment, often a keep-alive
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        # `id` and `retry` only matter to a reconnecting browser; other fields are ignored by the spec.


def iter_sse(pieces: Iterable[bytes]) -> Iterator[ServerSentEvent]:
    """Every event in a body given as byte pieces split anywhere."""
    decoder = SSEDecoder()
    for piece in pieces:
        yield from decoder.feed(piece)
    yield from decoder.close()
