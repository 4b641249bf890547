"""The SSE decoder: events come out the same however the bytes are split on the network."""
from __future__ import annotations

from app.llm.sse import ServerSentEvent, SSEDecoder, iter_sse

BODY = ("\ufeff: keep-alive comment\n"
        "event: message_start\n"
        "data: {\"a\":\n"
        "data:1}\n"
        "\n"
        "id: 7\n"
        "retry: 100\n"
        "data: caf\u00e9 \u65e5\u672c \u2028 \u2029 \u0085 end\n"
        "\n"
        "\n"
        "event: lonely-name-without-data\n"
        "\n"
        "data\n"
        "\n"
        "data: [DONE]\n\n").encode()
EXPECTED = [
    ServerSentEvent("message_start", '{"a":\n1}'),
    # Unicode line separators are text inside a line, not line ends (httpx's iter_lines splits on them).
    ServerSentEvent(None, "caf\u00e9 \u65e5\u672c \u2028 \u2029 \u0085 end"),
    ServerSentEvent(None, ""),  # a bare "data" field is an empty data line
    ServerSentEvent(None, "[DONE]"),
]


def test_a_body_in_one_piece():
    assert list(iter_sse([BODY])) == EXPECTED


def test_every_split_point_gives_the_same_events():
    # Splits inside multi-byte characters and between CR and LF included.
    for cut in range(1, len(BODY)):
        assert list(iter_sse([BODY[:cut], BODY[cut:]])) == EXPECTED, cut


def test_byte_by_byte():
    assert list(iter_sse(BODY[i:i + 1] for i in range(len(BODY)))) == EXPECTED


def test_cr_lf_and_crlf_line_endings_all_end_lines():
    for ending in (b"\n", b"\r", b"\r\n"):
        body = ending.join([b"event: e", b"data: x", b"", b"data: y", b"", b""])
        assert list(iter_sse([body])) == [ServerSentEvent("e", "x"), ServerSentEvent(None, "y")]
        assert list(iter_sse(body[i:i + 1] for i in range(len(body)))) == [ServerSentEvent("e", "x"),
                                                                          ServerSentEvent(None, "y")]


def test_a_crlf_split_across_pieces_is_one_line_end():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\r") == [ServerSentEvent(None, "a")]
    assert decoder.feed(b"\ndata: b\n\n") == [ServerSentEvent(None, "b")]


def test_a_last_line_without_line_ending_counts_at_close():
    decoder = SSEDecoder()
    assert decoder.feed(b'event: message_stop\ndata: {"type":"message_stop"}') == []
    assert decoder.close() == [ServerSentEvent("message_stop", '{"type":"message_stop"}')]
    assert decoder.close() == []
