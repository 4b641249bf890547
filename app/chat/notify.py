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

import logging
import os
import threading
import time
import uuid
import weakref

import psycopg
from flask import current_app
from sqlalchemy import String, cast, func, text
from sqlalchemy.engine import make_url

CHANNEL = "studio_messages"
RECONNECT_WAIT_SECONDS = (0.5, 30.0)  # first and longest wait before the listener connects again

log = logging.getLogger(__name__)


class Signal:
    """One message's wake-ups in this process: a counter that only goes up, and a condition to wait on.
    A follower notes `version` before it reads, then waits for a change, so no wake-up falls between."""

    __slots__ = ("_condition", "version", "__weakref__")

    def __init__(self):
        self._condition = threading.Condition(threading.Lock())
        self.version = 0

    def wake(self) -> None:
        with self._condition:
            self.version += 1
            self._condition.notify_all()

    def wait(self, seen: int, timeout: float) -> bool:
        """Wait until woken after `seen` (True) or for `timeout` seconds (False)."""
        with self._condition:
            return self._condition.wait_for(lambda: self.version != seen, timeout)


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


def notify_clause(message_id_column):
    """`pg_notify` for the message in a column, to select in the statement that changed it (PostgreSQL)."""
    return func.pg_notify(CHANNEL, cast(message_id_column, String))


def sent(session, message_id: uuid.UUID) -> None:
    """After that transaction committed: on other databases (one host), wake this process's followers."""
    if session.get_bind().dialect.name != "postgresql":
        wake(message_id)


def wake(message_id: uuid.UUID | str) -> None:
    """Wake the followers of one message in this process, if any."""
    signal = _signals.get(str(message_id))
    if signal is not None:
        signal.wake()


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
                        wake(notification.payload)
            except psycopg.Error as error:
                log.warning("stream notifications: listener lost its connection (%s); followers poll meanwhile", error)
            with _registry_lock:
                if not _signals:  # nobody follows: stop; the next follow starts a listener again
                    _listeners.pop(self.key, None)
                    return
            time.sleep(wait)
            wait = min(wait * 2, RECONNECT_WAIT_SECONDS[1])
