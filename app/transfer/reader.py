"""Reading an export file of any size a piece at a time: the bytes checked as they are stored, the
JSON walked as a stream of events (ijson), and one conversation built at a time, so memory stays
bounded whatever the file's size. Pure: no Flask, no database.

Three steps, each a pass over the file:
1. `store_upload` copies the upload to disk and refuses what is not UTF-8 JSON text (empty, zip,
   binary, bad encoding, a flood of tiny objects) while the bytes pass, hashing them on the way;
2. `scan` walks every event: valid JSON, nesting depth, the file's shape (ChatGPT or Studio) and how
   many conversations it holds (the progress total), all before anything is written;
3. `conversations` yields each conversation as Python values, one at a time, from a position on."""
from __future__ import annotations

import codecs
import hashlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import ijson

from app.transfer.records import ImportRefused

CHUNK_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 64  # real ChatGPT exports nest 12 levels
# Objects and lists, counted on the raw bytes: a real export has about one per 330 bytes (3,200 per
# MB). Past a million, a file denser than MAX_CONTAINERS_PER_MB is a flood of "{}," and is refused.
MAX_JSON_CONTAINERS = 1_000_000
MAX_CONTAINERS_PER_MB = 20_000
# One conversation, built in memory: a 10,000-message ChatGPT conversation has about 60,000 objects.
MAX_ITEM_CONTAINERS = 100_000
MAX_ITEM_CHARS = 20_000_000
STUDIO_FORMAT = "studio-export"
STUDIO_FORMAT_VERSION = 1


class ItemTooLarge:
    """Stands in for a conversation too large to build in memory (it is skipped with a reason)."""

    reason = "it is larger than any conversation Studio can hold, so it was not read"


TOO_LARGE = ItemTooLarge()


@dataclass(frozen=True)
class StoredFile:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class FileShape:
    """What `scan` learned: the format ("chatgpt" or "studio"), its header, and the conversation count."""

    kind: str
    total: int
    is_single: bool = False  # a ChatGPT file holding one conversation object, not a list
    version: object = None


def store_upload(stream: BinaryIO, directory: str, max_bytes: int) -> StoredFile:
    """Copy `stream` to a new file in `directory`, checking the bytes as they pass. Raises
    ImportRefused (and leaves no file) for a file that is empty, too large, binary or not UTF-8."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{uuid.uuid4().hex}.json")
    try:
        with open(path, "wb") as out:
            size, digest = check_bytes(stream, max_bytes, out)
    except BaseException:
        os.unlink(path)
        raise
    return StoredFile(path, size, digest)


def check_bytes(stream: BinaryIO, max_bytes: int, out: BinaryIO | None = None) -> tuple[int, str]:
    """Read `stream` to its end a chunk at a time (copying to `out`): (size, sha256) of a file that may
    be JSON text, else ImportRefused with the reason."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    digest, size, containers, has_text = hashlib.sha256(), 0, 0, False
    first = True
    while chunk := stream.read(CHUNK_BYTES):
        if first and chunk.startswith(b"PK\x03\x04"):
            raise ImportRefused("This is a zip archive. Unzip ChatGPT's export and upload the conversations.json "
                                "inside it.")
        first = False
        size += len(chunk)
        if size > max_bytes:
            raise ImportRefused(f"The file is larger than {max_bytes // (1024 * 1024)} MB, so it was not read.")
        if b"\x00" in chunk:
            raise ImportRefused("This is a binary file, not JSON text. Upload conversations.json or a Studio export.")
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as error:
            position = size - len(chunk) + error.start
            raise ImportRefused(f"The file is not UTF-8 text (the byte at position {position:,} cannot be read). "
                                "Upload the JSON file exactly as it was exported.") from None
        has_text = has_text or bool(chunk.strip())
        containers += chunk.count(b"{") + chunk.count(b"[")
        digest.update(chunk)
        if out is not None:
            out.write(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise ImportRefused(f"The file is not UTF-8 text (the byte at position {size - 1:,} cannot be read). "
                            "Upload the JSON file exactly as it was exported.") from None
    if not has_text:
        raise ImportRefused("The file is empty.")
    if containers > MAX_JSON_CONTAINERS and containers > MAX_CONTAINERS_PER_MB * size / (1024 * 1024):
        raise ImportRefused("The file holds more separate objects and lists than any conversation export, "
                            "so it was not read.")
    return size, digest.hexdigest()


# --- the JSON as events ----------------------------------------------------------------------------

def _events(file: BinaryIO) -> Iterator[tuple[str, object]]:
    """ijson's events with the depth checked; JSON errors become ImportRefused."""
    depth = 0
    if file.read(len(codecs.BOM_UTF8)) != codecs.BOM_UTF8:
        file.seek(0)  # no byte order mark (which ijson would not read)
    try:
        for event, value in ijson.basic_parse(file, use_float=True):
            if event == "start_map" or event == "start_array":
                depth += 1
                if depth > MAX_JSON_DEPTH:
                    raise ImportRefused("The file is nested too deeply to be a conversation export, "
                                        "so it was not read.")
            elif event == "end_map" or event == "end_array":
                depth -= 1
            yield event, value
    except ijson.JSONError as error:
        detail = str(error).strip().splitlines()[0][:120].rstrip(".") if str(error).strip() else "it ends early"
        raise ImportRefused(f"The file is not valid JSON (the reader says: {detail}).") from None
    except (ValueError, OverflowError):
        raise ImportRefused("The file is not valid JSON: it holds a value JSON does not allow "
                            "(such as NaN or a number with thousands of digits).") from None


def _skip_value(first_event: str, events) -> None:
    """Consume the rest of a value whose first event was `first_event`."""
    if first_event in ("start_map", "start_array"):
        _skip_open(1, events)


def _build(first_event: str, first_value, events):
    """The Python value whose first event was given, or TOO_LARGE (its events consumed) when it holds
    more than MAX_ITEM_CONTAINERS objects and lists or MAX_ITEM_CHARS characters."""
    if first_event == "start_map":
        root = {}
    elif first_event == "start_array":
        root = []
    else:
        return first_value
    stack, keys, containers, chars = [root], [None], 1, 0
    for event, value in events:
        if event == "map_key":
            keys[-1] = value
            continue
        if event == "end_map" or event == "end_array":
            stack.pop()
            keys.pop()
            if not stack:
                return root
            continue
        if event == "start_map":
            new = {}
        elif event == "start_array":
            new = []
        else:
            new = value
            if event == "string":
                chars += len(value)
                if chars > MAX_ITEM_CHARS:
                    _skip_open(len(stack), events)
                    return TOO_LARGE
        parent = stack[-1]
        if type(parent) is dict:
            parent[keys[-1]] = new
        else:
            parent.append(new)
        if event == "start_map" or event == "start_array":
            containers += 1
            if containers > MAX_ITEM_CONTAINERS:
                _skip_open(len(stack) + 1, events)
                return TOO_LARGE
            stack.append(new)
            keys.append(None)
    return root


def _skip_open(open_count: int, events) -> None:
    """Consume events until `open_count` open objects and lists have closed."""
    for event, _ in events:
        if event == "start_map" or event == "start_array":
            open_count += 1
        elif event == "end_map" or event == "end_array":
            open_count -= 1
            if open_count == 0:
                return


# --- pass 2: the shape and the count ---------------------------------------------------------------

NEITHER = ("This file is neither ChatGPT's conversations.json nor a Studio JSON export, "
           "so nothing was imported.")


def scan(file: BinaryIO, on_progress=None, every: int = 200) -> FileShape:
    """Walk the whole file: refuse it (ImportRefused) if it is not valid JSON, nests too deeply or is
    neither format; else its FileShape. `on_progress(count)` is called every `every` conversations."""
    events = _events(file)
    try:
        event, value = next(events)
    except StopIteration:
        raise ImportRefused("The file is empty.") from None
    if event == "start_array":
        count, looks_chatgpt = 0, False
        for event, _value in events:
            if event == "end_array":
                break
            count += 1
            if event == "start_map" and not looks_chatgpt:
                looks_chatgpt = _map_has_chatgpt_keys(events)
            else:
                _skip_value(event, events)
            if on_progress and count % every == 0:
                on_progress(count)
        _drain(events)
        if count == 0:
            raise ImportRefused("The file holds an empty list: there are no conversations to import.")
        if not looks_chatgpt:
            raise ImportRefused(NEITHER)
        return FileShape("chatgpt", count)
    if event != "start_map":
        _drain(events)
        raise ImportRefused(NEITHER)
    header, count, has_mapping = {}, None, False
    for event, value in events:
        if event == "end_map":
            break
        key = value  # a map_key
        event, value = next(events)
        if key == "mapping":
            has_mapping = True
        if key in ("format", "version") and event not in ("start_map", "start_array"):
            header[key] = value
        elif key == "conversations" and event == "start_array":
            count = 0
            for event, _value in events:
                if event == "end_array":
                    break
                count += 1
                _skip_value(event, events)
                if on_progress and count % every == 0:
                    on_progress(count)
        else:
            _skip_value(event, events)
    _drain(events)
    if header.get("format") == STUDIO_FORMAT:
        version = header.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ImportRefused("This Studio export has no readable format version, so it was not read.")
        if version > STUDIO_FORMAT_VERSION:
            raise ImportRefused(f"This export was made by a newer Studio (format version {version}); this one "
                                f"reads version {STUDIO_FORMAT_VERSION}.")
        if count is None:
            raise ImportRefused("This Studio export has no list of conversations, so it was not read.")
        if count == 0:
            raise ImportRefused("This Studio export holds no conversations.")
        return FileShape("studio", count, version=version)
    if has_mapping:
        return FileShape("chatgpt", 1, is_single=True)
    raise ImportRefused(NEITHER)


def _map_has_chatgpt_keys(events) -> bool:
    """Walk one object (its start_map already read): whether it has ChatGPT's `mapping` or `current_node`."""
    found = False
    for event, value in events:
        if event == "end_map":
            return found
        if value in ("mapping", "current_node"):
            found = True
        event, _ = next(events)
        _skip_value(event, events)
    return found


def _drain(events) -> None:
    """Read to the end, so trailing garbage after the document is refused like any broken JSON."""
    for _ in events:
        pass


# --- pass 3: the conversations, one at a time ------------------------------------------------------

def conversations(file: BinaryIO, shape: FileShape, start_at: int = 0) -> Iterator[tuple[int, object]]:
    """(position, conversation as Python values or TOO_LARGE) for each conversation after `start_at`
    (1-based positions; earlier ones are walked over without being built)."""
    events = _events(file)
    event, value = next(events)
    if shape.is_single:
        item = _build(event, value, events)
        if start_at < 1:
            yield 1, item
        return
    if shape.kind == "studio":
        for event, value in events:  # to the top-level key "conversations"
            if event == "map_key" and value == "conversations":
                event, value = next(events)
                if event == "start_array":
                    break
                _skip_value(event, events)
            elif event != "map_key":
                _skip_value(event, events)
    position = 0
    for event, value in events:
        if event == "end_array":
            return
        position += 1
        if position <= start_at:
            _skip_value(event, events)
            continue
        yield position, _build(event, value, events)
