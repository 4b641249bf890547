"""ChatGPT's data export (`conversations.json`), read into ParsedConversations. Pure: no Flask, no database.

Each conversation is a tree: `mapping` holds nodes `{id, message|null, parent, children}`, and
`current_node` is the leaf the person last saw. Editing a message or regenerating an answer starts a
branch, so the conversation as it was last shown (its main branch) is the path from `current_node`
up through `parent` to the root, read top-down. Only user and assistant text is kept; system
prompts, tool calls and results, hidden context and non-text content are left out and counted.
"""
from __future__ import annotations

import re
from collections import Counter

from app.chat.services import ImportedMessage
from app.transfer.records import (
    ConversationSkipped,
    ParsedConversation,
    ParsedFile,
    Skipped,
    clean_model_name,
    clean_text,
    conversation_label,
    cut_note,
    from_epoch,
    limit_message,
    plural,
    start_conversation,
)

SOURCE = "a ChatGPT export"
KEPT_ROLES = {"user", "assistant"}
TEXT_CONTENT_TYPES = {"text", "multimodal_text"}
IMAGE_PLACEHOLDER = "[Image not imported]"
# ChatGPT marks cited spans and citations with private-use characters: \ue203…\ue204 around a
# span, \ue200cite\ue202turn0search0\ue201 for a reference. They mean nothing outside ChatGPT.
_CITATION_REFERENCE = re.compile("\ue200[^\ue200\ue201]{0,200}\ue201")
_CITATION_MARK = re.compile("[\ue200-\ue206]")
UNREADABLE = "its structure is not what ChatGPT writes, so it could not be read"

# What was left out of a conversation, in the order the report names it.
LEFT_OUT = [
    ("system", "system message", "system messages"),
    ("tool", "tool message", "tool messages"),
    ("tool_call", "message addressed to a tool", "messages addressed to tools"),
    ("hidden", "hidden message", "hidden messages"),
    ("other_kind", "message of another kind", "messages of other kinds"),
    ("empty", "empty message", "empty messages"),
    ("unreadable", "unreadable message", "unreadable messages"),
]


def looks_like_chatgpt(document) -> bool:
    """One conversation object, or a list of them, with the `mapping` tree ChatGPT writes."""
    if isinstance(document, dict):
        return "mapping" in document
    if isinstance(document, list):
        return any(isinstance(item, dict) and ("mapping" in item or "current_node" in item) for item in document)
    return False


def parse(document) -> ParsedFile:
    """Every conversation of the file: read, or skipped with a reason (one bad entry spoils nothing else)."""
    items = [document] if isinstance(document, dict) else list(document)
    conversations, skipped = [], []
    for position, item in enumerate(items, 1):
        try:
            conversations.append(parse_conversation(item))
        except ConversationSkipped as error:
            skipped.append(Skipped(conversation_label(item, position), str(error)))
        except (TypeError, ValueError, KeyError, AttributeError, RecursionError):
            skipped.append(Skipped(conversation_label(item, position), UNREADABLE))
    return ParsedFile(SOURCE, conversations, skipped)


def parse_conversation(item) -> ParsedConversation:
    """The main branch of one conversation as user and assistant messages, with its title and dates."""
    title, notes = start_conversation(item)
    mapping = item.get("mapping")
    if not isinstance(mapping, dict) or not mapping:
        raise ConversationSkipped("it has no messages (its “mapping” is missing or empty)")

    leaf = item.get("current_node")
    if not (isinstance(leaf, str) and isinstance(mapping.get(leaf), dict)):
        leaves = _leaves(mapping)
        if not leaves:
            raise ConversationSkipped(UNREADABLE)
        leaf = _latest(mapping, leaves)
        if len(leaves) > 1:
            notes.append("It did not say which branch was current, so the latest one was imported.")

    counts: Counter = Counter()
    other_kinds: set[str] = set()
    messages = []
    for node in _main_branch(mapping, leaf):
        message = _message_of(node.get("message"), counts, other_kinds)
        if message is not None:
            messages.append(message)
    if not messages:
        raise ConversationSkipped("its main branch has no text from you or the assistant")

    created_at = from_epoch(item.get("create_time")) or next((m.created_at for m in messages if m.created_at), None)
    if created_at is None:
        notes.append("It had no dates, so it is dated at the time of import.")
    messages = _with_dates(messages, created_at)
    notes.extend(_left_out_notes(counts, other_kinds))
    return ParsedConversation(
        title=title, messages=messages, created_at=created_at, notes=notes,
        model_provider="openai", model_id=clean_model_name(item.get("default_model_slug")))


def _leaves(mapping: dict) -> list[str]:
    """Nodes no other node names as its parent (some exports have no `children` lists)."""
    parents = {node.get("parent") for node in mapping.values() if isinstance(node, dict)}
    return [key for key, node in mapping.items() if isinstance(node, dict) and key not in parents]


def _latest(mapping: dict, keys: list[str]) -> str:
    """The leaf written last (ChatGPT shows the newest branch); ties keep the file's order."""
    def written_at(key):
        message = mapping[key].get("message")
        moment = from_epoch(message.get("create_time")) if isinstance(message, dict) else None
        return moment.timestamp() if moment else float("-inf")
    return max(keys, key=written_at)


def _main_branch(mapping: dict, leaf: str) -> list[dict]:
    """The nodes from the root down to `leaf`; stops at a missing parent or a cycle."""
    path, seen = [], set()
    key = leaf
    while isinstance(key, str) and key not in seen:
        node = mapping.get(key)
        if not isinstance(node, dict):
            break
        seen.add(key)
        path.append(node)
        key = node.get("parent")
    path.reverse()
    return path


def _message_of(message, counts: Counter, other_kinds: set[str]) -> ImportedMessage | None:
    """A user or assistant message as text, or None (counted under the reason it was left out)."""
    if message is None:
        return None  # the tree's root carries no message
    if not isinstance(message, dict):
        counts["unreadable"] += 1
        return None
    author = message.get("author")
    role = author.get("role") if isinstance(author, dict) else None
    if role not in KEPT_ROLES:
        counts[role if role in ("system", "tool") else "unreadable"] += 1
        return None
    metadata = message.get("metadata") if isinstance(message.get("metadata"), dict) else {}
    if metadata.get("is_visually_hidden_from_conversation") is True:
        counts["hidden"] += 1
        return None
    if message.get("recipient") not in (None, "all"):
        counts["tool_call"] += 1  # e.g. search("…") sent to the browser
        return None
    content = message.get("content")
    if not isinstance(content, dict):
        counts["unreadable"] += 1
        return None
    content_type = content.get("content_type")
    if content_type not in TEXT_CONTENT_TYPES:
        counts["other_kind"] += 1
        if isinstance(content_type, str):
            other_kinds.add(content_type)
        return None
    text = _text_of(content, counts)
    if text is None:
        counts["unreadable"] += 1
        return None
    if not text:
        counts["empty"] += 1
        return None
    return ImportedMessage(
        role=role, content=limit_message(text, counts), created_at=from_epoch(message.get("create_time")),
        model_name=clean_model_name(metadata.get("model_slug")) if role == "assistant" else None)


def _text_of(content: dict, counts: Counter) -> str | None:
    """The text of `parts`: strings kept, images marked, other parts counted; None if unreadable."""
    parts = content.get("parts")
    if not isinstance(parts, list):
        text = content.get("text")
        return clean_text(text).strip() if isinstance(text, str) else None
    texts = []
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and ("asset_pointer" in part or "image" in str(part.get("content_type", ""))):
            counts["image"] += 1
            texts.append(IMAGE_PLACEHOLDER)
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            texts.append(part["text"])  # e.g. an audio transcription
        else:
            counts["non_text_part"] += 1
    text = clean_text("\n\n".join(t for t in texts if t.strip()))
    return _CITATION_MARK.sub("", _CITATION_REFERENCE.sub("", text)).strip()


def _with_dates(messages: list[ImportedMessage], created_at) -> list[ImportedMessage]:
    """Missing message dates take the one before (or the conversation's), so the order reads right."""
    dated, last = [], created_at
    for message in messages:
        last = message.created_at or last
        dated.append(message if message.created_at or last is None else ImportedMessage(
            role=message.role, content=message.content, created_at=last, model_name=message.model_name))
    return dated


def _left_out_notes(counts: Counter, other_kinds: set[str]) -> list[str]:
    notes = []
    left_out = [plural(counts[key], one, many) for key, one, many in LEFT_OUT if counts[key]]
    if left_out:
        kinds = sorted(kind[:40] for kind in other_kinds)[:6]
        detail = f" (kinds: {', '.join(kinds)})" if kinds else ""
        notes.append(f"Left out: {', '.join(left_out)}{detail}.")
    if counts["image"]:
        notes.append(f"{plural(counts['image'], 'image was', 'images were')} not imported (only text is); "
                     f"the text marks where {'it was' if counts['image'] == 1 else 'they were'}.")
    if counts["non_text_part"]:
        notes.append(f"{plural(counts['non_text_part'], 'part of a message was', 'parts of messages were')} "
                     "not text and left out.")
    cut = cut_note(counts)
    if cut:
        notes.append(cut)
    return notes
