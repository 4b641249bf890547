"""Export a conversation (Markdown, Studio JSON) and import a file of conversations (ChatGPT's
conversations.json, Studio JSON) whole or not at all. Services take the acting user and plain values;
they never read the request. Reading and writing the formats are pure functions below the imports."""
from __future__ import annotations

import json
import logging
import re
import unicodedata
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from urllib.parse import quote

from app.ai_models import services as model_services
from app.chat import services as chat_services
from app.chat.services import ImportedMessage
from app.core.markdown import render_markdown_safe
from app.errors import is_database_busy
from app.extensions import db
from app.models.base import utcnow
from app.transfer import chatgpt
from app.transfer.records import (
    ConversationSkipped,
    ImportRefused,
    ParsedConversation,
    ParsedFile,
    Skipped,
    clean_model_name,
    clean_text,
    clean_title,
    cut_note,
    from_iso,
    limit_message,
    plural,
)

log = logging.getLogger(__name__)

FORMAT = "studio-export"
FORMAT_VERSION = 1
MAX_IMPORT_BYTES = 20 * 1024 * 1024
MAX_IMPORT_CONVERSATIONS = 1_000
MAX_IMPORT_MESSAGES = 10_000
MAX_JSON_DEPTH = 64  # real ChatGPT exports nest 12 levels
# Objects and lists, counted on the raw bytes before parsing: a real export has one per ~330 bytes
# (63,000 in 20 MB), while 20 MB of "{}," would parse into 6.6 million dicts (about 500 MB).
MAX_JSON_CONTAINERS = 1_000_000
STUDIO_SOURCE = "a Studio export"
IMPORTED_ROLES = {"user", "assistant"}


# --- importing -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImportedItem:
    conversation_id: uuid.UUID
    title: str
    message_count: int
    created_at: datetime | None
    notes: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    """What one file gave: the conversations written (with notes) and those skipped (with reasons)."""

    source: str
    imported: list[ImportedItem]
    skipped: list[Skipped]

    @property
    def message_count(self) -> int:
        return sum(item.message_count for item in self.imported)


def import_file(user, data: bytes) -> ImportReport:
    """Read the file and write its conversations in one transaction: all of them or none.
    Raises ImportRefused (nothing written) for a file that cannot be read or breaks a limit.

    Parsing, rendering and model matching all happen before the transaction opens, so the write
    (which holds SQLite's one write lock) is only the inserts: other people's sends never wait for
    this file's Markdown."""
    parsed = read_export(data)
    imported: list[ImportedItem] = []
    if not parsed.conversations:
        return ImportReport(parsed.source, imported, parsed.skipped)
    render_answers(parsed)
    matcher = _ModelMatcher(user)
    models = [matcher.find(c.model_provider, c.model_id) for c in parsed.conversations]
    try:
        for conversation, model in zip(parsed.conversations, models):
            written = chat_services.add_imported_conversation(
                user, conversation.title, conversation.messages, created_at=conversation.created_at,
                model=model, system_prompt=conversation.system_prompt)
            imported.append(ImportedItem(written.id, written.title, len(conversation.messages),
                                         written.created_at, conversation.notes))
        db.session.commit()
    except Exception as error:
        # Whatever failed, the file imports whole or not at all; the person gets a message, not a 500.
        db.session.rollback()
        if is_database_busy(error):
            raise  # another writer held the lock: "busy, try again" (503), nothing was written
        log.exception("import of %s failed; rolled back", parsed.source)
        raise ImportRefused("The database refused part of this file, so nothing was imported. "
                            "Nothing of it was kept; try again, or import a smaller file.")
    return ImportReport(parsed.source, imported, parsed.skipped)


def render_answers(parsed: ParsedFile) -> None:
    """Give every answer of the file its sanitised HTML, one message at a time (each within the
    Markdown budget), replacing the messages in place rather than building a second copy."""
    for conversation in parsed.conversations:
        messages = conversation.messages
        for position, message in enumerate(messages):
            if message.role == "assistant" and message.content_html is None:
                messages[position] = replace(
                    message, content_html=render_markdown_safe(message.content.replace("\x00", "")))


class _ModelMatcher:
    """A registry model the user may use with the same provider and model id, if there is one."""

    def __init__(self, user):
        self.user, self.models = user, None

    def find(self, provider: str | None, model_id: str | None):
        if not model_id:
            return None
        if self.models is None:
            self.models = model_services.models_for_role(self.user.role)
        return next((m for m in self.models if m.model_id == model_id and (not provider or m.provider == provider)),
                    None)


def read_export(data: bytes) -> ParsedFile:
    """The conversations of an uploaded file, within the limits; ImportRefused says why not."""
    document = decode_json(data)
    if isinstance(document, dict) and document.get("format") == FORMAT:
        parsed = parse_studio_export(document)
    elif chatgpt.looks_like_chatgpt(document):
        _check_conversation_count(document if isinstance(document, list) else [document])
        parsed = chatgpt.parse(document)
    elif isinstance(document, list) and not document:
        raise ImportRefused("The file holds an empty list: there are no conversations to import.")
    else:
        raise ImportRefused("This file is neither ChatGPT's conversations.json nor a Studio JSON export, "
                            "so nothing was imported.")
    if parsed.message_count > MAX_IMPORT_MESSAGES:
        raise ImportRefused(f"The file holds {parsed.message_count:,} messages; at most {MAX_IMPORT_MESSAGES:,} "
                            "can be imported at once. Nothing was imported.")
    return parsed


def decode_json(data: bytes):
    """Bytes → a JSON document, refusing what is empty, binary, not UTF-8, not JSON or nested too deeply."""
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportRefused(f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB, so it was not read.")
    if not data.strip():
        raise ImportRefused("The file is empty.")
    if data.startswith(b"PK\x03\x04"):
        raise ImportRefused("This is a zip archive. Unzip ChatGPT's export and upload the conversations.json "
                            "inside it.")
    if b"\x00" in data:
        raise ImportRefused("This is a binary file, not JSON text. Upload conversations.json or a Studio export.")
    if data.count(b"{") + data.count(b"[") > MAX_JSON_CONTAINERS:
        raise ImportRefused("The file holds more separate objects and lists than any conversation export, "
                            "so it was not read.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportRefused(f"The file is not UTF-8 text (the byte at position {error.start:,} cannot be read). "
                            "Upload the JSON file exactly as it was exported.")
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ImportRefused("The file is nested too deeply to be a conversation export, so it was not read.")
    except json.JSONDecodeError as error:
        raise ImportRefused(f"The file is not valid JSON: {error.msg} at line {error.lineno:,}, "
                            f"column {error.colno:,}.")
    except ValueError:
        raise ImportRefused("The file is not valid JSON: it holds a value JSON does not allow "
                            "(such as NaN or a number with thousands of digits).")
    if _depth(document) > MAX_JSON_DEPTH:
        raise ImportRefused("The file is nested too deeply to be a conversation export, so it was not read.")
    return document


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _depth(document) -> int:
    """How deeply lists and objects nest, walked without recursion."""
    deepest, stack = 0, [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            values = value.values()
        elif isinstance(value, list):
            values = value
        else:
            continue
        deepest = max(deepest, depth)
        if depth > MAX_JSON_DEPTH:
            return depth
        stack.extend((child, depth + 1) for child in values if isinstance(child, (dict, list)))
    return deepest


def _check_conversation_count(items: list) -> None:
    if len(items) > MAX_IMPORT_CONVERSATIONS:
        raise ImportRefused(f"The file holds {len(items):,} conversations; at most {MAX_IMPORT_CONVERSATIONS:,} "
                            "can be imported at once. Nothing was imported.")


def parse_studio_export(document: dict) -> ParsedFile:
    """Studio's own JSON export (any version up to FORMAT_VERSION) as conversations to write."""
    version = document.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ImportRefused("This Studio export has no readable format version, so it was not read.")
    if version > FORMAT_VERSION:
        raise ImportRefused(f"This export was made by a newer Studio (format version {version}); this one reads "
                            f"version {FORMAT_VERSION}.")
    items = document.get("conversations")
    if not isinstance(items, list):
        raise ImportRefused("This Studio export has no list of conversations, so it was not read.")
    if not items:
        raise ImportRefused("This Studio export holds no conversations.")
    _check_conversation_count(items)
    conversations, skipped = [], []
    for position, item in enumerate(items, 1):
        try:
            conversations.append(_studio_conversation(item))
        except ConversationSkipped as error:
            skipped.append(Skipped(_studio_label(item, position), str(error)))
        except (TypeError, ValueError, KeyError, AttributeError):
            skipped.append(Skipped(_studio_label(item, position), "its structure could not be read"))
    return ParsedFile(STUDIO_SOURCE, conversations, skipped)


def _studio_label(item, position: int) -> str:
    title = item.get("title") if isinstance(item, dict) else None
    if isinstance(title, str) and title.strip():
        short = " ".join(clean_text(title).split())
        return f"Conversation {position}: “{short[:80]}{'…' if len(short) > 80 else ''}”"
    return f"Conversation {position}"


def _studio_conversation(item) -> ParsedConversation:
    if not isinstance(item, dict):
        raise ConversationSkipped("it is not a conversation (an object with a title and messages)")
    notes: list[str] = []
    title = clean_title(item.get("title"), notes)
    raw_messages = item.get("messages")
    if not isinstance(raw_messages, list):
        raise ConversationSkipped("it has no list of messages")
    counts: dict[str, int] = {}
    messages = []
    created_at = from_iso(item.get("created_at"))
    last_at = created_at
    for raw in raw_messages:
        role = raw.get("role") if isinstance(raw, dict) else None
        content = raw.get("content") if isinstance(raw, dict) else None
        if role not in IMPORTED_ROLES or not isinstance(content, str):
            key = "system" if role == "system" else "unreadable"
            counts[key] = counts.get(key, 0) + 1
            continue
        text = clean_text(content)
        if not text.strip():
            counts["empty"] = counts.get("empty", 0) + 1
            continue
        last_at = from_iso(raw.get("created_at")) or last_at
        model = raw.get("model") if isinstance(raw.get("model"), dict) else {}
        messages.append(ImportedMessage(role=role, content=limit_message(text, counts), created_at=last_at,
                                        model_name=clean_model_name(model.get("name")) if role == "assistant" else None))
    if not messages:
        raise ConversationSkipped("it has no messages from you or the assistant")
    left_out = [plural(counts[key], one, many) for key, one, many in (
        ("system", "system message", "system messages"), ("empty", "empty message", "empty messages"),
        ("unreadable", "unreadable message", "unreadable messages")) if counts.get(key)]
    if left_out:
        notes.append(f"Left out: {', '.join(left_out)}.")
    system_prompt = item.get("system_prompt") if isinstance(item.get("system_prompt"), str) else None
    if cut_note(counts):
        notes.append(cut_note(counts))
    model = item.get("model") if isinstance(item.get("model"), dict) else {}
    return ParsedConversation(
        title=title, messages=messages, created_at=created_at or messages[0].created_at, notes=notes,
        model_provider=clean_model_name(model.get("provider")), model_id=clean_model_name(model.get("model_id")),
        system_prompt=(system_prompt or "").replace("\x00", "").strip()[:chat_services.MAX_SYSTEM_PROMPT_CHARS] or None)


# --- exporting -------------------------------------------------------------------------------------

def all_messages(conversation) -> list:
    """Every message of the conversation, oldest first, read a page at a time."""
    pages, before = [], None
    while True:
        page, has_earlier = chat_services.recent_messages(conversation, before)
        pages.append(page)
        if not has_earlier or not page:
            break
        before = page[0].id
    return [message for page in reversed(pages) for message in page]


def export_json(user, conversation) -> tuple[bytes, str, str]:
    """The conversation as Studio JSON: (body, ASCII file name, Unicode file name)."""
    document = export_document([(conversation, all_messages(conversation))], utcnow())
    body = json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")
    return (body, *download_names(conversation.title, "json"))


def export_markdown(user, conversation) -> tuple[bytes, str, str]:
    """The conversation as Markdown: (body, ASCII file name, Unicode file name)."""
    body = conversation_markdown(conversation, all_messages(conversation), utcnow()).encode("utf-8")
    return (body, *download_names(conversation.title, "md"))


def export_document(conversations: list[tuple[object, list]], exported_at: datetime) -> dict:
    """Studio's export format: a marker and version, then the conversations with every message."""
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "exported_at": _iso(exported_at),
        "conversations": [conversation_record(c, messages) for c, messages in conversations],
    }


def conversation_record(conversation, messages: list) -> dict:
    return {
        "id": str(conversation.id),
        "title": conversation.title,
        "created_at": _iso(conversation.created_at),
        "updated_at": _iso(conversation.updated_at),
        "last_message_at": _iso(conversation.last_message_at),
        "model": _model_record(conversation.model),
        "system_prompt": conversation.system_prompt,
        "is_pinned": conversation.is_pinned,
        "is_archived": conversation.is_archived,
        "totals": {
            "message_count": conversation.message_count,
            "input_tokens": conversation.total_input_tokens,
            "output_tokens": conversation.total_output_tokens,
            "total_tokens": conversation.total_tokens,
            "cost_usd": _money(conversation.total_cost_usd),
        },
        "messages": [message_record(m) for m in messages],
    }


def message_record(message) -> dict:
    return {
        "id": str(message.id),
        "role": message.role,
        "content": message.content,
        "reasoning_content": message.reasoning_content,
        "parts": message.parts,
        "status": message.status,
        "finish_reason": message.finish_reason,
        "error_message": message.error_message,
        "model": _model_record(message.model),
        "options": _options_record(message.options),
        "usage": {
            "input_tokens": message.input_tokens,
            "output_tokens": message.output_tokens,
            "cached_input_tokens": message.cached_input_tokens,
            "cost_usd": _money(message.cost_usd),
        },
        "created_at": _iso(message.created_at),
        "completed_at": _iso(message.completed_at),
    }


OPTION_NAMES = ("temperature", "top_p", "max_tokens", "frequency_penalty", "presence_penalty")


def _options_record(options) -> dict | None:
    if options is None:
        return None
    values = {name: getattr(options, name) for name in OPTION_NAMES}
    return {name: (float(value) if isinstance(value, Decimal) else value) for name, value in values.items()}


def _model_record(model) -> dict | None:
    if model is None:
        return None
    return {"name": model.name, "provider": model.provider, "model_id": model.model_id}


def _money(value) -> str | None:
    return None if value is None else str(value)  # never a float


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "unknown time"


def conversation_markdown(conversation, messages: list, exported_at: datetime) -> str:
    """A readable transcript: title, dates and model, then each message under its author and time."""
    lines = [f"# {conversation.title}", ""]
    facts = [f"Created {_when(conversation.created_at)}", plural(len(messages), "message", "messages")]
    if conversation.model:
        facts.append(f"model: {conversation.model.name}")
    lines += [f"*{' · '.join(facts)} · exported from Studio {_when(exported_at)}*", ""]
    if conversation.system_prompt:
        lines += ["**System prompt**", "", _quote(conversation.system_prompt), ""]
    for message in messages:
        author = "You" if message.role == "user" else message.role.capitalize()
        if message.role == "assistant" and message.model:
            author = f"{author} ({message.model.name})"
        lines += ["---", "", f"### {author} · {_when(message.created_at)}", ""]
        if message.reasoning_content:
            lines += ["**Reasoning**", "", _quote(message.reasoning_content), ""]
        lines += [message.content or "*(empty)*", ""]
        options = _options_record(message.options)
        if options and any(v is not None for v in options.values()):
            lines += ["*Options: " + ", ".join(f"{k} {v}" for k, v in options.items() if v is not None) + "*", ""]
        if message.status == "failed":
            lines += [f"*This answer failed: {message.error_message or 'the provider did not finish it'}.*", ""]
        elif message.status in ("stopped", "streaming"):
            lines += [f"*This answer was {'stopped' if message.status == 'stopped' else 'still being written'}.*", ""]
    return "\n".join(lines).rstrip() + "\n"


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines())


def download_names(title: str, extension: str) -> tuple[str, str]:
    """A file name for the download: plain ASCII for every browser, and the title's own letters for
    those that read `filename*`. Neither can hold a path separator, a quote or a control character."""
    ascii_stem = unicodedata.normalize("NFKD", title or "").encode("ascii", "ignore").decode("ascii")
    ascii_stem = re.sub(r"[^A-Za-z0-9]+", "-", ascii_stem).strip("-").lower()[:80].strip("-") or "conversation"
    unicode_stem = re.sub(r'[\x00-\x1f\x7f/\\:*?"<>|]+', " ", title or "")
    unicode_stem = " ".join(unicode_stem.split()).strip(". ")[:80].strip(". ") or ascii_stem
    return f"{ascii_stem}.{extension}", f"{unicode_stem}.{extension}"


def content_disposition(ascii_name: str, unicode_name: str) -> str:
    """`attachment` with both names (RFC 6266); the Unicode one percent-encoded so the header stays ASCII."""
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(unicode_name, safe='')}"
