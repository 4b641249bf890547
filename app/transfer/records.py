"""What a parsed export file becomes before anything is written, and the cleaning every format shares.
Pure: no Flask, no database."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from app.chat.services import (
    DEFAULT_TITLE,
    MAX_MESSAGE_CHARS,
    MAX_TITLE_CHARS,
    ImportedMessage,
)

MAX_MODEL_NAME_CHARS = 100
# Control characters other than tab, newline and carriage return: never meaningful in chat text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# JSON can spell half of a surrogate pair ("\ud800"); it is not a character and PostgreSQL refuses it.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# Dates outside this range are treated as missing: they are garbage, not history.
EARLIEST_EPOCH = 0
LATEST_EPOCH = datetime(2200, 1, 1, tzinfo=UTC).timestamp()


class ImportRefused(Exception):
    """The whole file is refused; `message` says why in words the person can act on."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ConversationSkipped(Exception):
    """One conversation of the file cannot be read; the others still can."""


@dataclass
class ParsedConversation:
    """A conversation read from a file, cleaned and within limits, ready to be written."""

    title: str
    messages: list[ImportedMessage]
    created_at: datetime | None = None
    model_provider: str | None = None
    model_id: str | None = None
    system_prompt: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Skipped:
    """A conversation of the file that was not imported, and why."""

    label: str
    reason: str


@dataclass
class ParsedFile:
    """Everything read from one file: its kind, the conversations to write, those skipped."""

    source: str  # a phrase: "a ChatGPT export", "a Studio export"
    conversations: list[ParsedConversation]
    skipped: list[Skipped]

    @property
    def message_count(self) -> int:
        return sum(len(c.messages) for c in self.conversations)


def clean_text(value: str) -> str:
    """Text safe to store: no control characters, no lone surrogates (which PostgreSQL refuses)."""
    return _CONTROL.sub("", _LONE_SURROGATE.sub("\ufffd", value))


def clean_title(value, notes: list[str]) -> str:
    """A one-line title within the limit; a missing or non-text title becomes the default."""
    if not isinstance(value, str):
        if value is not None:
            notes.append("Its title was not text, so it was replaced.")
        return DEFAULT_TITLE
    title = " ".join(clean_text(value).split())
    if not title:
        return DEFAULT_TITLE
    if len(title) > MAX_TITLE_CHARS:
        notes.append(f"Its title was cut to {MAX_TITLE_CHARS} characters.")
        title = title[:MAX_TITLE_CHARS - 1].rstrip() + "…"
    return title


def conversation_label(item, position: int) -> str:
    """How a report names a conversation of the file (any format): its position, and its title when it has one."""
    title = item.get("title") if isinstance(item, dict) else None
    if isinstance(title, str) and title.strip():
        short = " ".join(clean_text(title).split())
        return f"Conversation {position}: “{short[:80]}{'…' if len(short) > 80 else ''}”"
    return f"Conversation {position}"


def start_conversation(item) -> tuple[str, list[str]]:
    """An exported conversation's title, cleaned, and its notes so far; ConversationSkipped when the item is
    not an object (any format: both keep a conversation as an object with a title)."""
    if not isinstance(item, dict):
        raise ConversationSkipped("it is not a conversation (an object with a title and messages)")
    notes: list[str] = []
    return clean_title(item.get("title"), notes), notes


def clean_model_name(value) -> str | None:
    if not isinstance(value, str):
        return None
    name = " ".join(clean_text(value).split())[:MAX_MODEL_NAME_CHARS]
    return name or None


def limit_message(text: str, counts: dict[str, int]) -> str:
    """The message text within MAX_MESSAGE_CHARS; cutting one is counted for the report."""
    if len(text) <= MAX_MESSAGE_CHARS:
        return text
    counts["cut"] = counts.get("cut", 0) + 1
    return text[:MAX_MESSAGE_CHARS]


def cut_note(counts: dict[str, int]) -> str | None:
    cut = counts.get("cut", 0)
    if not cut:
        return None
    return (f"{plural(cut, 'message was', 'messages were')} longer than {MAX_MESSAGE_CHARS:,} characters "
            f"and {'was' if cut == 1 else 'were'} cut there.")


def from_epoch(value) -> datetime | None:
    """Seconds since 1970 (ChatGPT's `create_time`) as aware UTC; anything else is None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value) or not EARLIEST_EPOCH <= value < LATEST_EPOCH:
        return None
    return datetime.fromtimestamp(value, UTC)


def from_iso(value) -> datetime | None:
    """An ISO 8601 date (Studio's exports) as aware UTC; a date without zone is read as UTC."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return moment if EARLIEST_EPOCH <= moment.timestamp() < LATEST_EPOCH else None


def plural(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"
