"""Reading a provider's stream in a thread of its own, so that the caller is never stuck in a read.

A reasoning model may send nothing for minutes before its first token. `read_in_background()`
reads the stream in a helper thread and hands its events over through a queue; while nothing
arrives it yields `WAITING` every `every` seconds, so the caller can beat its heartbeat, check for
a stop request and apply its own time limits meanwhile. Closing the returned iterator abandons the
read: the caller goes on at once, and the helper thread closes the provider's stream as soon as its
read returns (the next event, or the connection's own read timeout).
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")


class Waiting:
    """Nothing arrived yet; yielded every few tenths of a second while the provider is silent."""

    def __repr__(self) -> str:
        return "WAITING"


WAITING = Waiting()


def read_in_background(events: Iterator[T], every: float, name: str = "provider-read") -> Iterator[T | Waiting]:
    """The items of `events`, read in a daemon thread, with WAITING whenever `every` seconds pass
    without one. An exception raised by `events` is raised here, after the items before it."""
    handoff: queue.SimpleQueue = queue.SimpleQueue()
    abandoned = threading.Event()

    def read() -> None:
        try:
            for item in events:
                handoff.put(("item", item))
                if abandoned.is_set():
                    break
            handoff.put(("end", None))
        except BaseException as error:  # handed over and raised in the caller's thread
            handoff.put(("error", error))
        finally:
            close = getattr(events, "close", None)
            if close:
                close()  # drops the connection to the provider

    threading.Thread(target=read, name=name, daemon=True).start()
    try:
        while True:
            try:
                kind, value = handoff.get(timeout=every)
            except queue.Empty:
                yield WAITING
                continue
            if kind == "item":
                yield value
            elif kind == "end":
                return
            else:
                raise value
    finally:
        abandoned.set()
