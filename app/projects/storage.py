"""Blobs stored by their SHA-256 under STUDIO_PROJECT_STORAGE: the same bytes are stored once,
written to a temporary name and renamed into place, so a reader never sees half a file."""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from flask import current_app

_HASH = re.compile(r"[0-9a-f]{64}")


def root() -> Path:
    """The storage folder (created on first use)."""
    path = Path(current_app.config["PROJECT_STORAGE"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def blob_path(file_hash: str) -> Path:
    """Where the blob with this hash lives; only a well-formed hash names a path."""
    if not _HASH.fullmatch(file_hash or ""):
        raise ValueError("not a SHA-256 hash")
    return root() / "blobs" / file_hash[:2] / file_hash


def hash_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put(data: bytes) -> str:
    """Store `data` (once, whoever stored it first) and return its hash."""
    file_hash = hash_of(data)
    target = blob_path(file_hash)
    if target.exists():
        return file_hash
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, target)
    except BaseException:
        with _suppress():
            os.unlink(temporary)
        raise
    return file_hash


def exists(file_hash: str) -> bool:
    return blob_path(file_hash).is_file()


def read(file_hash: str, limit: int | None = None) -> bytes:
    """The blob's bytes (at most `limit` of them)."""
    with open(blob_path(file_hash), "rb") as blob:
        return blob.read() if limit is None else blob.read(limit)


class _suppress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return True
