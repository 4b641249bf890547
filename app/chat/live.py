"""An answer's live view while it streams: its completed blocks as HTML, the rest as escaped text.

The page and the SSE stream show the same thing, from the saved text alone, so any process can
serve it and a reload or reconnect continues where the browser is:

- the page (`live_view`) renders the completed blocks of the text so far and puts the unfinished
  block after them as text; its stream starts at the end of that text (`?after=`);
- the stream sends each piece of new text as `delta` (escaped text, appended to the unfinished
  block), and when blocks complete, `blocks` right after it: their HTML, appended to the
  finished part (an htmx out-of-band swap), and the unfinished rest, which replaces the text shown.
  Only `blocks` carries the event id then, so a reconnect never skips one: the `delta` before it
  would be sent again and its text is replaced by the next `blocks` anyway;
- on a reconnect (`Last-Event-ID`) the text up to that point is only scanned, not rendered: the
  browser has those blocks already.

Blocks are found by app.core.markdown_blocks and rendered by the same renderer and sanitiser as the
final answer, once each (cached per process). The `done` event's final HTML stays authoritative.
"""
from __future__ import annotations

import html
import uuid
from dataclasses import dataclass

from flask import current_app
from markupsafe import Markup
from sqlalchemy import func, select

from app.chat.models import Message
from app.core.markdown_blocks import BlockScanner, completed_blocks, render_block
from app.extensions import db


def is_enabled() -> bool:
    """Live formatting is on unless LIVE_FORMATTING is False (the bench compares both)."""
    return bool(current_app.config.get("LIVE_FORMATTING", True))


@dataclass(frozen=True)
class LiveView:
    """What a streaming answer shows: its finished blocks (sanitised HTML) and the text after them."""
    blocks_html: Markup
    tail: str


def live_view(text: str | None) -> LiveView:
    """The live view of an answer's text so far, as a page shows it before its stream continues."""
    if not is_enabled():
        return LiveView(Markup(""), text or "")
    blocks, tail = completed_blocks(text or "")
    return LiveView(Markup("".join(render_block(block) for block in blocks)), tail)


class LiveAnswer:
    """Turns the new text of one streaming answer into the data of its `blocks` events."""

    def __init__(self, message_id: uuid.UUID, text_so_far: str, enabled: bool = True):
        self.enabled = enabled
        self.blocks_target = f"#answer-blocks-{message_id}"
        self.scanner = BlockScanner()
        if enabled:
            self.scanner.feed(text_so_far)  # the browser shows these blocks already

    @classmethod
    def resume(cls, message_id: uuid.UUID, text_offset: int) -> LiveAnswer:
        """The live state of an answer whose browser has seen its first `text_offset` characters."""
        enabled = is_enabled()
        text_so_far = ""
        if enabled and text_offset > 0:
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                text_so_far = connection.scalar(
                    select(func.substr(Message.content, 1, text_offset)).where(Message.id == message_id)) or ""
        return cls(message_id, text_so_far, enabled)

    def read(self, new_text: str) -> str | None:
        """Take the next saved text; the data of a `blocks` event when it completed blocks, else None."""
        if not self.enabled:
            return None
        blocks = self.scanner.feed(new_text)
        if not blocks:
            return None
        rendered = "".join(render_block(block) for block in blocks)
        return (f'<div hx-swap-oob="beforeend:{self.blocks_target}">{rendered}</div>'
                f"{html.escape(self.scanner.tail, quote=False)}")
