"""Wake the streams a process serves when their message changes, so followers need not poll.

The database stays the source of truth: a follower always reads new text from the message row, from
its own offsets. This module only says *when* to read. On PostgreSQL the generator sends
`pg_notify('studio_messages', <message id>)` in the transaction of each flush, and each process keeps
one listener thread (a greenlet under gevent) on a dedicated connection (NOTIFY_DATABASE_URL: a
direct one, LISTEN does not survive PgBouncer's transaction mode) that wakes the followers of that
message. On SQLite (one host) the generator wakes this process's followers itself after it commits.
Followers still read every STREAM_FALLBACK_POLL_SECONDS, so a lost notification costs latency,
never text. The listener starts on the first follow, never in create_app (nor in gunicorn's master)."""
from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
import weakref
from collections import deque
from dataclasses import dataclass

import psycopg
from flask import current_app
from sqlalchemy import func, text
from sqlalchemy.engine import make_url

CHANNEL = "studio_messages"
PIECES_KEPT = 64  # a follower further behind than this many wake-ups reads the row instead
MAX_PAYLOAD_BYTES = 7000  # PostgreSQL refuses NOTIFY payloads of 8,000 bytes or more
RECONNECT_WAIT_SECONDS = (0.5, 30.0)  # first and longest wait before the listener connects again

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Piece:
    """What one flush appended: `text` at character `text_at` of the answer, `reasoning` at
    `reasoning_at` of its reasoning. A follower whose offsets are within reach appends it as it is."""
    text_at: int
    text: str
    reasoning_at: int
    reasoning: str

    def payload(self, message_id: uuid.UUID) -> str:
        """`<message id> <JSON>`, or the message id alone when the piece is too long to travel."""
        payload = f"{message_id} " + json.dumps([self.text_at, self.text, self.reasoning_at, self.reasoning],
                                                separators=(",", ":"))
        return payload if len(payload.encode()) <= MAX_PAYLOAD_BYTES else str(message_id)

    @classmethod
    def parse(cls, data: str) -> Piece | None:
        try:
            text_at, text, reasoning_at, reasoning = json.loads(data)
        except (ValueError, TypeError):
            return None
        if not (isinstance(text_at, int) and isinstance(reasoning_at, int)
                and isinstance(text, str) and isinstance(reasoning, str)):
            return None
        return cls(text_at, text, reasoning_at, reasoning)


class Signal:
    """One message's wake-ups in this process: a counter that only goes up, and a condition to wait on.
    A follower notes `version` before it reads, then waits for a change, so no wake-up falls between.
    Each wake-up may carry the piece of text it announces (see `Piece`); the last PIECES_KEPT are
    kept, so a follower can take them instead of reading the row."""

    __slots__ = ("_condition", "version", "_pieces", "__weakref__")

    def __init__(self):
        self._condition = threading.Condition(threading.Lock())
        self.version = 0
        self._pieces: deque[tuple[int, Piece | None]] = deque(maxlen=PIECES_KEPT)

    def wake(self, piece: Piece | None = None) -> None:
        with self._condition:
            self.version += 1
            self._pieces.append((self.version, piece))
            self._condition.notify_all()

    def wait(self, seen: int, timeout: float) -> bool:
        """Wait until woken after `seen` (True) or for `timeout` seconds (False)."""
        with self._condition:
            return self._condition.wait_for(lambda: self.version != seen, timeout)

    def pieces_after(self, seen: int) -> tuple[int, list[Piece] | None]:
        """The version now and the pieces announced since `seen`, oldest first; None instead of the
        pieces when one of those wake-ups carried none or is no longer kept (then read the row)."""
        with self._condition:
            newer = [(version, piece) for version, piece in self._pieces if version > seen]
            complete = len(newer) == self.version - seen and all(piece is not None for _, piece in newer)
            return self.version, [piece for _, piece in newer] if complete else None


# A signal lives as long as a follower holds it: the registry forgets messages nobody follows.
_signals: weakref.WeakValueDictionary[str, Signal] = weakref.WeakValueDictionary()
_listeners: dict[tuple[int, str], _Listener] = {}
_registry_lock = threading.Lock()


def subscribe(message_id: uuid.UUID) -> Signal | None:
    """The wake-up of one message for a follower in this process (hold it while following), starting
    this process's listener on first use; None when notifications are off (the follower then polls)."""
    config = current_app.config
    if not config.get("STREAM_NOTIFY", True):
        return None
    key = str(message_id)
    with _registry_lock:
        signal = _signals.get(key)
        if signal is None:
            signal = _signals[key] = Signal()
    url = make_url(config.get("NOTIFY_DATABASE_URL") or config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() in ("postgresql", "postgres"):
        _ensure_listener(url.set(drivername="postgresql").render_as_string(hide_password=False))
    return signal


def send(session, message_id: uuid.UUID) -> None:
    """Inside the transaction that changed a message: on PostgreSQL a NOTIFY, delivered to every
    process's listener when (and only if) the transaction commits."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": str(message_id)})


def payload(message_id: uuid.UUID, piece: Piece | None = None) -> str:
    """A notification's payload: the message id, with the piece of text just appended when it fits."""
    return piece.payload(message_id) if piece is not None else str(message_id)


def notify_clause(payload_value):
    """`pg_notify` of a payload (see `payload()`; a value or a bound parameter), to select in the
    statement that changed the message (PostgreSQL): sent when, and only if, that statement commits."""
    return func.pg_notify(CHANNEL, payload_value)


def sent(session, message_id: uuid.UUID, piece: Piece | None = None) -> None:
    """After that transaction committed: on other databases (one host), wake this process's followers."""
    if session.get_bind().dialect.name != "postgresql":
        wake(message_id, piece)


def wake(message_id: uuid.UUID | str, piece: Piece | None = None) -> None:
    """Wake the followers of one message in this process, if any."""
    signal = _signals.get(str(message_id))
    if signal is not None:
        signal.wake(piece)


def received(payload: str) -> None:
    """A notification's payload: `<message id>` or `<message id> <piece>`. The piece is parsed only
    when someone here follows that message."""
    message_id, _, data = payload.partition(" ")
    signal = _signals.get(message_id)
    if signal is not None:
        signal.wake(Piece.parse(data) if data else None)


def wake_all() -> None:
    """Wake every follower in this process (after the listener was away: anything may have changed)."""
    for signal in list(_signals.values()):
        signal.wake()


def _ensure_listener(url: str) -> None:
    # Keyed by process too: a forked worker starts its own listener (threads do not survive a fork).
    key = (os.getpid(), url)
    with _registry_lock:
        if key in _listeners:
            return
        listener = _listeners[key] = _Listener(key)
    listener.start()


class _Listener(threading.Thread):
    """LISTEN on one dedicated connection and wake the followers of each message named; reconnect
    (waking everyone, since notifications sent meanwhile are lost) while anyone follows."""

    def __init__(self, key: tuple[int, str]):
        super().__init__(name="studio-notify-listener", daemon=True)
        self.key = key

    def run(self) -> None:
        wait = RECONNECT_WAIT_SECONDS[0]
        while True:
            try:
                with psycopg.connect(self.key[1], autocommit=True, application_name="studio-notify") as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    wait = RECONNECT_WAIT_SECONDS[0]
                    wake_all()
                    for notification in connection.notifies():
                        received(notification.payload)
            except psycopg.Error as error:
                log.warning("stream notifications: listener lost its connection (%s); followers poll meanwhile", error)
            with _registry_lock:
                if not _signals:  # nobody follows: stop; the next follow starts a listener again
                    _listeners.pop(self.key, None)
                    return
            time.sleep(wait)
            wait = min(wait * 2, RECONNECT_WAIT_SECONDS[1])
