"""Where a growing Markdown text has finished blocks, so that they can be rendered once each.

While an answer streams, everything before its last open block is final: a paragraph, list, table
or quote ends at a blank line once the next block starts, and a fenced code block ends at its
closing fence. `BlockScanner` reads the text as it grows (each character once, plus the first few
characters of a line it is still waiting for) and hands back each completed block's source.
`render_block` renders one block with the same renderer and sanitiser as a whole message, cached,
so every viewer, reload and reconnect in this process shares the work.

"Complete" is decided conservatively, so that rendering the blocks one by one gives what rendering
them together would: a list goes on across blank lines while the next item comes (a loose list),
indented lines after a blank line belong to what came before (a list item's paragraph or code), and
nothing inside a fence counts. What can still differ (a link reference defined further down) is
put right by the final render, which stays authoritative.
"""
from __future__ import annotations

import re
import threading
from collections import OrderedDict

from app.core.markdown import render_markdown_safe

__all__ = ["BlockScanner", "completed_blocks", "render_block"]

# How long rendering one block may take before its remaining inline text is shown escaped: a block
# is a small part of an answer, and the final render (with the full budget) follows at the end.
BLOCK_RENDER_BUDGET_SECONDS = 0.05

# Rendered blocks kept per process, counted in characters of source plus HTML.
CACHE_MAX_CHARS = 8_000_000
# A block larger than this is rendered for the one who asks and not kept.
CACHE_MAX_BLOCK_CHARS = 200_000

_FENCE_OPEN = re.compile(r"( {0,3})(`{3,}|~{3,})(.*)")
_FENCE_CLOSE = re.compile(r" {0,3}(`{3,}|~{3,})[ \t]*")
# A list item's marker at the start of a line: "-", "*", "+" or "1." / "1)" and then a space.
_LIST_ITEM = re.compile(r" {0,3}(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)")
# How a list marker can begin; a line that starts otherwise is decided by its first character.
_LIST_ITEM_START = re.compile(r"[-*+]|\d")
_UNDECIDED_LIST_ITEM = re.compile(r"[-*+]|\d{1,9}[.)]?")


class BlockScanner:
    """Reads a growing Markdown text and returns the source of each block as it completes.

    `feed(more)` takes the next piece of text and returns the blocks that piece completed, in
    order; `stable_length` is how much of the text those blocks cover. Feeding the same text in
    any pieces gives the same blocks."""

    def __init__(self) -> None:
        self.stable_length = 0  # characters of the text covered by completed blocks
        self._pending = ""  # the text after stable_length
        self._line_start = 0  # where the current line starts in _pending
        self._searched = 0  # how far _pending has been searched for the current line's end
        self._line_decided = False  # whether a block ending before the current line was settled
        self._fence: tuple[str, int, int] | None = None  # (character, length, indent) of an open fence
        self._previous_blank = False
        self._block_has_list_item = False

    @property
    def tail(self) -> str:
        """The text after the completed blocks: the block still being written."""
        return self._pending

    def feed(self, more: str) -> list[str]:
        """Take the next piece of the text; return the blocks it completed."""
        completed: list[str] = []
        self._pending += more
        while True:
            end = self._pending.find("\n", max(self._searched, self._line_start))
            if end < 0:
                self._searched = len(self._pending)
                if not self._line_decided:  # its first characters are enough to decide
                    self._decide_block_end(self._pending[self._line_start:self._line_start + 16], False, completed)
                return completed
            line = self._pending[self._line_start:end].rstrip("\r")
            length = end + 1 - self._line_start
            if not self._line_decided:
                self._decide_block_end(line, True, completed)  # may end a block: offsets move
            self._read_line(line, self._line_start + length, completed)
            self._line_decided = False

    def _decide_block_end(self, line: str, is_complete: bool, completed: list[str]) -> None:
        """At the start of a line after a blank one: end the pending block here, unless the line
        may belong to it (indented, or the next item of its list). A line still being written is
        decided as soon as its first characters tell."""
        if self._fence is not None or not self._previous_blank:
            self._line_decided = is_complete
            return
        if not line or line[0] in " \t":  # indented, blank, or nothing yet to go by
            self._line_decided = is_complete and bool(line)
            return
        if self._block_has_list_item and _LIST_ITEM_START.match(line):
            # "-" alone is an (empty) item only once its line has ended.
            if _LIST_ITEM.match(line) and (is_complete or not _UNDECIDED_LIST_ITEM.fullmatch(line)):
                self._line_decided = True  # the list goes on
                return
            if not is_complete and _UNDECIDED_LIST_ITEM.fullmatch(line):
                return  # "1" or "-" alone: wait for the next character
        self._end_block(self._line_start, completed)
        self._line_decided = True

    def _read_line(self, line: str, next_start: int, completed: list[str]) -> None:
        """Update the fence and list state with one whole line."""
        if self._fence is not None:
            character, length, indent = self._fence
            close = _FENCE_CLOSE.fullmatch(line)
            self._line_start = self._searched = next_start
            if close and close[1][0] == character and len(close[1]) >= length:
                self._fence = None
                self._previous_blank = False
                # A fence at the margin, outside any list, ends its block with its closing line.
                if indent == 0 and not self._block_has_list_item:
                    self._end_block(next_start, completed)
            return
        opening = _FENCE_OPEN.fullmatch(line)
        if opening and not (opening[2][0] == "`" and "`" in opening[3]):
            self._fence = (opening[2][0], len(opening[2]), len(opening[1]))
        elif _LIST_ITEM.match(line):
            self._block_has_list_item = True
        self._previous_blank = not line.strip()
        self._line_start = self._searched = next_start

    def _end_block(self, at: int, completed: list[str]) -> None:
        """The pending text up to `at` is a finished block."""
        if at <= 0:
            return
        if self._pending[:at].strip():  # blank lines alone are no block (after a closing fence)
            completed.append(self._pending[:at])
        self.stable_length += at
        self._pending = self._pending[at:]
        self._line_start -= at
        self._searched = max(0, self._searched - at)
        self._block_has_list_item = False


def completed_blocks(text: str) -> tuple[list[str], str]:
    """The completed blocks of a text written so far, and its unfinished rest."""
    scanner = BlockScanner()
    blocks = scanner.feed(text)
    return blocks, scanner.tail


class _RenderedBlocks:
    """A small LRU of rendered blocks, bounded by characters, shared by the threads of a process."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self._items: OrderedDict[str, str] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()

    def get(self, source: str) -> str | None:
        with self._lock:
            rendered = self._items.get(source)
            if rendered is not None:
                self._items.move_to_end(source)
            return rendered

    def put(self, source: str, rendered: str) -> None:
        size = len(source) + len(rendered)
        if len(source) > CACHE_MAX_BLOCK_CHARS:
            return
        with self._lock:
            if source in self._items:
                return
            self._items[source] = rendered
            self._chars += size
            while self._chars > self.max_chars and self._items:
                old_source, old_rendered = self._items.popitem(last=False)
                self._chars -= len(old_source) + len(old_rendered)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._chars = 0


_CACHE = _RenderedBlocks(CACHE_MAX_CHARS)


def render_block(source: str) -> str:
    """One completed block as sanitised HTML (render_markdown_safe), rendered once per process."""
    rendered = _CACHE.get(source)
    if rendered is None:
        rendered = render_markdown_safe(source, budget_seconds=BLOCK_RENDER_BUDGET_SECONDS)
        _CACHE.put(source, rendered)
    return rendered
