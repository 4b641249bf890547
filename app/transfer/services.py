"""Export a conversation (Markdown, Studio JSON) and import a file of conversations (ChatGPT's
conversations.json, Studio JSON) of any size: the upload is stored and a background job (app/transfer/
jobs.py) writes it in batches, never the same conversation twice. Services take the acting user and
plain values; they never read the request."""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import unicodedata
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from urllib.parse import quote

from flask import current_app
from sqlalchemy import select

from app.ai_models import services as model_services
from app.chat import services as chat_services
from app.chat.services import ImportedMessage
from app.core.markdown import render_markdown_safe
from app.errors import NotFound
from app.extensions import db
from app.jobs import runner
from app.jobs.models import Job
from app.models.base import utcnow
from app.transfer import chatgpt, reader
from app.transfer.records import (
    ConversationSkipped,
    ParsedConversation,
    ParsedFile,
    Skipped,
    clean_model_name,
    clean_text,
    conversation_label,
    cut_note,
    from_iso,
    limit_message,
    plural,
    start_conversation,
)

log = logging.getLogger(__name__)

FORMAT = reader.STUDIO_FORMAT
FORMAT_VERSION = reader.STUDIO_FORMAT_VERSION
STUDIO_SOURCE = "a Studio export"
IMPORTED_ROLES = {"user", "assistant"}
IMPORT_JOB = "import"
SHOWN_IN_REPORT = 200  # conversations listed on the report (imported, skipped); the rest are counted
MAX_SOURCE_ID_CHARS = 150
SOURCES = {"chatgpt": chatgpt.SOURCE, "studio": STUDIO_SOURCE}
# Files up to this size are scanned whole while the upload is answered, so a broken small file is
# refused on the spot as before; larger ones are scanned by the job (the upload must answer at once).
SCAN_IN_REQUEST_BYTES = 2 * 1024 * 1024


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
    """What one file gave: the conversations written (with notes), those skipped (with reasons) and
    those already imported before. The lists hold the first SHOWN_IN_REPORT; the counts hold all."""

    source: str
    imported: list[ImportedItem]
    skipped: list[Skipped]
    imported_count: int | None = None
    skipped_count: int | None = None
    already_count: int = 0
    messages: int | None = None

    def __post_init__(self):
        if self.imported_count is None:
            self.imported_count = len(self.imported)
        if self.skipped_count is None:
            self.skipped_count = len(self.skipped)

    @property
    def message_count(self) -> int:
        if self.messages is not None:
            return self.messages
        return sum(item.message_count for item in self.imported)


def start_import(user, stream) -> Job:
    """Store the uploaded file on disk (checking its bytes on the way) and queue the job that imports
    it; the same file again resumes its unfinished import instead of starting a second one.
    Raises ImportRefused (nothing stored) for a file refused whole."""
    config = current_app.config
    stored = reader.store_upload(stream, config["IMPORT_UPLOAD_DIR"], config["IMPORT_MAX_BYTES"])
    try:
        if stored.size <= SCAN_IN_REQUEST_BYTES:
            with open(stored.path, "rb") as file:
                reader.scan(file)
        job = _job_for_upload(user, stored)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        _remove(stored.path)
        raise
    runner.wake()
    return job


def _job_for_upload(user, stored: reader.StoredFile) -> Job:
    key = f"sha256:{stored.sha256}"
    earlier = db.session.scalar(select(Job).where(
        Job.user_id == user.id, Job.kind == IMPORT_JOB, Job.dedupe_key == key,
        Job.status.in_(("queued", "running", "failed", "cancelled"))).order_by(Job.created_at.desc()).limit(1))
    if earlier is not None and earlier.status in ("queued", "running") and not runner.is_stale(earlier):
        _remove(stored.path)  # already on its way: show its progress
        return earlier
    if earlier is not None:
        # Interrupted (its worker stopped), cancelled or failed: carry on from where it stopped.
        _remove(earlier.payload.get("path"))
        earlier.payload = {**earlier.payload, "path": stored.path}
        earlier.progress = {**(earlier.progress or {}), "resumed_count": (earlier.progress or {}).get(
            "resumed_count", 0) + 1, "cancelled": False}
        runner.requeue(earlier)
        return earlier
    return runner.enqueue(IMPORT_JOB, {"path": stored.path, "size": stored.size, "sha256": stored.sha256},
                          user=user, dedupe_key=key, progress={"phase": "waiting", "size": stored.size})


def _remove(path: str | None) -> None:
    if path:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def get_import_for(user, job_id: uuid.UUID) -> Job:
    """The user's import job; NotFound for anyone else's."""
    job = runner.get_job_for(user, job_id, IMPORT_JOB)
    if job is None:
        raise NotFound("No such import.")
    if not job.is_finished:
        runner.wake()  # a restarted process picks up what was waiting
    return job


def cancel_import(user, job_id: uuid.UUID) -> Job:
    """Stop the user's import after its current batch; what was written stays."""
    job = get_import_for(user, job_id)
    was_queued = job.status == "queued"
    runner.request_cancel(job)
    db.session.commit()
    if was_queued:
        _remove(job.payload.get("path"))
    return job


def report_of(job: Job) -> ImportReport:
    """The report of an import job so far (or finished), from the progress on its row."""
    progress = job.progress or {}
    imported = [ImportedItem(uuid.UUID(item["id"]), item["title"], item["message_count"],
                             from_iso(item.get("created_at")), item.get("notes") or [])
                for item in progress.get("items", [])]
    skipped = [Skipped(item["label"], item["reason"]) for item in progress.get("skipped", [])]
    return ImportReport(SOURCES.get(progress.get("kind"), "the file"), imported, skipped,
                        imported_count=progress.get("imported", 0), skipped_count=progress.get("skipped_count", 0),
                        already_count=progress.get("already", 0), messages=progress.get("messages", 0))


def source_id_of(kind: str, item) -> str:
    """Where a conversation came from: its id in the file (ChatGPT's conversation id, a Studio export's
    conversation id), or for an entry without one a hash of its content."""
    value = None
    if isinstance(item, dict):
        value = item.get("conversation_id") or item.get("id") if kind == "chatgpt" else item.get("id")
    if isinstance(value, str) and 0 < len(value) <= MAX_SOURCE_ID_CHARS and value.isprintable():
        return f"{kind}:{value}"
    canonical = json.dumps(item, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def parse_item(kind: str, item, position: int) -> ParsedConversation | Skipped:
    """One conversation of the file, read and cleaned, or why it was skipped."""
    if item is reader.TOO_LARGE:
        return Skipped(f"Conversation {position}", reader.TOO_LARGE.reason)
    read = _studio_conversation if kind == "studio" else chatgpt.parse_conversation
    try:
        return read(item)
    except ConversationSkipped as error:
        return Skipped(conversation_label(item, position), str(error))
    except (TypeError, ValueError, KeyError, AttributeError, RecursionError):
        return Skipped(conversation_label(item, position), chatgpt.UNREADABLE if kind == "chatgpt"
                       else "its structure could not be read")


def read_export(data: bytes, max_bytes: int | None = None) -> ParsedFile:
    """The conversations of a file held in memory (small files, tests), checked as an upload is;
    ImportRefused says why not."""
    reader.check_bytes(io.BytesIO(data), max_bytes or len(data) + 1)
    shape = reader.scan(io.BytesIO(data))
    conversations, skipped = [], []
    for position, item in reader.conversations(io.BytesIO(data), shape):
        result = parse_item(shape.kind, item, position)
        (skipped if isinstance(result, Skipped) else conversations).append(result)
    return ParsedFile(SOURCES[shape.kind], conversations, skipped)


def render_answers(conversations: list[ParsedConversation]) -> None:
    """Give every answer its sanitised HTML, one message at a time (each within the Markdown budget),
    replacing the messages in place rather than building a second copy."""
    for conversation in conversations:
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


def _studio_conversation(item) -> ParsedConversation:
    title, notes = start_conversation(item)
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
        model_name = clean_model_name(model.get("name")) if role == "assistant" else None
        messages.append(ImportedMessage(role=role, content=limit_message(text, counts), created_at=last_at,
                                        model_name=model_name))
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
