"""A follower takes the text its wake-ups carry instead of reading the answer's row each time, and
never loses or repeats a character doing so: a gap, a wake-up without text or one it missed makes it
read the row instead."""
from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import event, select

from app.chat.models import Message
from app.chat.notify import PIECES_KEPT, Piece, Signal
from app.chat.streaming import _progress_from
from app.extensions import db
from tests.chat.test_streaming import open_new_chat
from tests.factories import make_user
from tests.sse_client import read_events, signed_in_http_client


def test_pieces_continue_the_text_from_the_followers_offsets():
    pieces = [Piece(0, "Hello", 0, ""), Piece(5, " wor", 0, "hmm"), Piece(9, "ld", 3, "")]
    assert _progress_from(pieces, 0, 0) == ("streaming", None, 11, "Hello world", 3, "hmm")
    # What the follower already read from the row is not sent again...
    assert _progress_from(pieces, 7, 3) == ("streaming", None, 11, "orld", 3, "")
    # ...and text it never got (a piece missed) makes it read the row.
    assert _progress_from(pieces[1:], 2, 0) is None
    assert _progress_from([Piece(0, "Hi", 4, "later")], 2, 0) is None


def test_a_wake_up_without_text_or_one_no_longer_kept_means_reading_the_row():
    signal = Signal()
    signal.wake(Piece(0, "a", 0, ""))
    signal.wake(Piece(1, "b", 0, ""))
    assert signal.pieces_after(0) == (2, [Piece(0, "a", 0, ""), Piece(1, "b", 0, "")])
    assert signal.pieces_after(1) == (2, [Piece(1, "b", 0, "")])
    signal.wake()  # the final state, a reconnected listener, a piece too long to travel
    assert signal.pieces_after(1) == (3, None)
    for number in range(PIECES_KEPT + 1):
        signal.wake(Piece(2 + number, "c", 0, ""))
    assert signal.pieces_after(3) == (signal.version, None)  # the oldest one it needs is gone


def test_a_piece_too_long_for_a_notification_travels_as_the_message_id_alone():
    piece = Piece(0, "é" * 4000, 0, "")
    assert piece.payload("m-1") == "m-1"
    assert Piece.parse(Piece(3, 'say "hi"\n', 1, "x").payload("m-1").split(" ", 1)[1]) == Piece(3, 'say "hi"\n', 1, "x")
    assert Piece.parse("not json") is None and Piece.parse('[1, 2, 3, 4]') is None


@pytest.mark.postgres
def test_a_live_stream_reads_the_row_only_to_start_and_to_finish(app, live_server):
    reads = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if "length(nexus_messages.content)" in statement:  # the follower's read (read_progress)
            reads.append(statement)

    client = signed_in_http_client(live_server, make_user())
    _, stream_url = open_new_chat(client, "[[echo:slow]] " + "many words to stream " * 12)
    # From the start: the page's URL starts after the text it already shows (on a slow machine, the
    # first words), and this test compares the whole answer.
    stream_url = re.sub(r"([?&])after=[^&]*&?", r"\1", stream_url).rstrip("?&")
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        with client.stream("GET", stream_url) as response:
            events = read_events(response)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert events[-1].event == "done"
    answer = db.session.scalar(select(Message).where(Message.role == "assistant"))
    assert html.unescape("".join(e.data for e in events if e.event == "delta")) == answer.content
    deltas = sum(1 for e in events if e.event == "delta")
    # One read to start and one for the finished state (plus a fallback poll if the machine stalls),
    # where reading at each wake-up would make one more read than there are deltas.
    assert deltas >= 4 and len(reads) < deltas
