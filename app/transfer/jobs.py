"""The "import" job: read a stored export a conversation at a time and write it in short batches.

First the whole file is scanned (valid JSON, depth, format, how many conversations) so a file refused
whole writes nothing. Then conversations are read from the saved position on; each batch is parsed
and rendered outside any transaction, conversations the user already has (same source id) are
counted as already imported, and the rest are written in one short transaction together with the
progress, so a stopped import resumes exactly where its last batch ended."""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

from flask import current_app
from sqlalchemy.exc import IntegrityError

from app.auth.models import User
from app.chat import services as chat_services
from app.extensions import db
from app.jobs import runner
from app.transfer import reader, services
from app.transfer.records import ImportRefused, ParsedConversation, Skipped, plural

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 2.0


@dataclass
class _Holdings:
    """What the user holds, against the per-user limits."""

    conversations: int
    characters: int
    max_conversations: int
    max_characters: int


@runner.register(services.IMPORT_JOB)
def run_import(context: runner.JobContext) -> dict:
    """Import the file named in the payload for the job's user; returns the final progress."""
    progress = dict(context.progress)
    progress.pop("refused", None)
    user = db.session.get(User, context.user_id)
    db.session.rollback()
    path = context.payload.get("path")
    if user is None or not path or not os.path.exists(path):
        progress.update(phase="done", refused="The uploaded file is no longer there. Upload it again to "
                                              "continue; what was imported stays.")
        return progress
    try:
        if not progress.get("total"):
            _scan(context, progress, path)
        _import_conversations(context, user, progress, path)
    except ImportRefused as refused:
        progress.update(phase="done", refused=refused.message)
        return progress
    progress["phase"] = "done"
    return progress


def _scan(context: runner.JobContext, progress: dict, path: str) -> None:
    progress.update(phase="checking", checked=0)
    context.save_progress(progress)
    last_beat = time.monotonic()

    def checked(count: int) -> None:
        nonlocal last_beat
        if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
            progress["checked"] = count
            context.check_cancelled()
            context.save_progress(progress)
            last_beat = time.monotonic()

    with open(path, "rb") as file:
        shape = reader.scan(file, on_progress=checked)
    progress.update(phase="importing", kind=shape.kind, is_single=shape.is_single, total=shape.total, position=0,
                    imported=0, messages=0, already=0, skipped_count=0, items=[], skipped=[])
    context.save_progress(progress)


def _import_conversations(context: runner.JobContext, user, progress: dict, path: str) -> None:
    config = current_app.config
    shape = reader.FileShape(progress["kind"], progress["total"], progress.get("is_single", False))
    conversations, characters = chat_services.stored_totals(user)
    db.session.rollback()
    holdings = _Holdings(conversations, characters, config["MAX_CONVERSATIONS_PER_USER"],
                         config["MAX_STORAGE_MB_PER_USER"] * 1024 * 1024)
    matcher = services._ModelMatcher(user)
    batch_size = max(1, config["IMPORT_BATCH_SIZE"])
    batch: list[tuple[int, object]] = []
    with open(path, "rb") as file:
        for position, item in reader.conversations(file, shape, start_at=progress.get("position", 0)):
            batch.append((position, item))
            if len(batch) >= batch_size:
                context.check_cancelled()
                _write_batch(context, user, shape.kind, batch, progress, holdings, matcher)
                batch = []
        if batch:
            context.check_cancelled()
            _write_batch(context, user, shape.kind, batch, progress, holdings, matcher)


def _write_batch(context, user, kind: str, batch: list, progress: dict, holdings: _Holdings, matcher) -> None:
    """Parse, check and render a batch outside any transaction, then write it with its progress in one."""
    skipped: list[Skipped] = []
    parsed: list[tuple[str, ParsedConversation]] = []
    for position, item in batch:
        result = services.parse_item(kind, item, position)
        if isinstance(result, Skipped):
            skipped.append(result)
        else:
            parsed.append((services.source_id_of(kind, item), result))
    last_position = batch[-1][0]
    batch.clear()  # the raw items are no longer needed
    for attempt in (1, 2):
        existing = chat_services.imported_source_ids(user, [source_id for source_id, _ in parsed])
        db.session.rollback()  # end the read before rendering
        new, already, refused = _sort_out(parsed, existing, holdings)
        services.render_answers([conversation for _, conversation in new])
        models = [matcher.find(c.model_provider, c.model_id) for _, c in new]
        db.session.rollback()
        try:
            written = []
            for (source_id, conversation), model in zip(new, models, strict=True):
                row = chat_services.add_imported_conversation(
                    user, conversation.title, conversation.messages, created_at=conversation.created_at,
                    model=model, system_prompt=conversation.system_prompt, source_id=source_id)
                written.append((row, conversation))
            updated = _advanced(progress, written, skipped + refused, already, last_position)
            context.save_progress(updated, commit=False)
            db.session.commit()
        except IntegrityError:
            # Another import wrote one of these conversations meanwhile: look again and skip it.
            db.session.rollback()
            if attempt == 2:
                raise
            continue
        holdings.conversations += len(written)
        holdings.characters += sum(_characters(c) for _, c in written)
        progress.clear()
        progress.update(updated)
        return


def _sort_out(parsed, existing: set[str], holdings: _Holdings):
    """(to write, how many were imported before, skipped for a per-user limit)."""
    new, already, refused, seen = [], 0, [], set()
    conversations, characters = holdings.conversations, holdings.characters
    for source_id, conversation in parsed:
        if source_id in existing or source_id in seen:
            already += 1
            continue
        seen.add(source_id)
        size = _characters(conversation)
        if conversations + 1 > holdings.max_conversations:
            refused.append(Skipped(_label(conversation), f"you already hold {holdings.max_conversations:,} "
                                   "conversations, the most one person can keep"))
            continue
        if characters + size > holdings.max_characters:
            refused.append(Skipped(_label(conversation), "it would take your stored text past the "
                                   f"{holdings.max_characters // (1024 * 1024):,} MB one person can keep"))
            continue
        conversations, characters = conversations + 1, characters + size
        new.append((source_id, conversation))
    return new, already, refused


def _label(conversation: ParsedConversation) -> str:
    return f"“{conversation.title[:80]}”"


def _characters(conversation: ParsedConversation) -> int:
    return sum(len(message.content) for message in conversation.messages)


def _advanced(progress: dict, written: list, skipped: list[Skipped], already: int, position: int) -> dict:
    """The progress after a batch (a new dict: the old one stands until the batch commits)."""
    updated = dict(progress)
    items = list(progress.get("items", []))
    for row, conversation in written:
        if len(items) < services.SHOWN_IN_REPORT:
            items.append({"id": str(row.id), "title": row.title, "message_count": len(conversation.messages),
                          "created_at": row.created_at.isoformat() if row.created_at else None,
                          "notes": conversation.notes})
    shown_skipped = list(progress.get("skipped", []))
    for entry in skipped:
        if len(shown_skipped) < services.SHOWN_IN_REPORT:
            shown_skipped.append({"label": entry.label, "reason": entry.reason})
    updated.update(
        position=position, items=items, skipped=shown_skipped,
        imported=progress.get("imported", 0) + len(written),
        messages=progress.get("messages", 0) + sum(len(c.messages) for _, c in written),
        skipped_count=progress.get("skipped_count", 0) + len(skipped),
        already=progress.get("already", 0) + already)
    return updated


@runner.on_finished(services.IMPORT_JOB)
def remove_upload(context: runner.JobContext, status: str) -> None:
    """The stored upload is deleted once its job has finished (uploading it again resumes)."""
    services._remove(context.payload.get("path"))
    log.info("import job %s %s: %s", context.job_id, status, plural(context.progress.get("imported", 0),
                                                                     "conversation", "conversations"))
