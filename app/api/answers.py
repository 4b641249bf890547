"""Following an answer being written, for the API: text as it arrives (SSE) or the finished message.
The answer is written by chat's generator, exactly as for the pages."""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

from flask import current_app

from app.chat import notify, streaming
from app.chat.models import Message
from app.extensions import db
from app.models.base import utcnow

MAX_WAIT_SECONDS = 600


def text_as_written(message_id: uuid.UUID) -> Iterator[str | None]:
    """The answer's new text, piece by piece, until it is no longer being written; None now and then
    while nothing arrives (a keep-alive). Ends after MAX_WAIT_SECONDS at most."""
    # The request's session let go of its connection, as for the pages' streams: a follower holds
    # none between its reads.
    db.session.rollback()
    started = time.monotonic()
    offset = 0
    fallback_seconds = current_app.config["STREAM_FALLBACK_POLL_SECONDS"]
    signal = notify.subscribe(message_id)  # woken as the generator saves text; None: only the slow poll
    while time.monotonic() - started < MAX_WAIT_SECONDS:
        seen = signal.version if signal else 0
        progress = streaming.read_progress(message_id, offset, 0)
        if progress is None:
            return
        status, heartbeat_at, text_length, new_text = progress[0], progress[1], progress[2], progress[3]
        if new_text:
            offset = text_length
            yield new_text
        if status == "streaming" and heartbeat_at is not None and \
                utcnow() - heartbeat_at > streaming.HEARTBEAT_STALE_AFTER:
            message = db.session.get(Message, message_id)
            if message is not None:
                streaming.reap_if_stale(message)
            db.session.rollback()
            continue
        if status != "streaming":
            return
        yield None
        if signal:
            signal.wait(seen, fallback_seconds)
        else:
            time.sleep(fallback_seconds)


def finished(message_id: uuid.UUID) -> Message | None:
    """The message as the generator left it (read fresh)."""
    db.session.rollback()
    return db.session.get(Message, message_id)


def wait_until_finished(message_id: uuid.UUID) -> Message | None:
    """Block until the answer is finished (or given up on), then return it."""
    for _ in text_as_written(message_id):
        pass
    return finished(message_id)
