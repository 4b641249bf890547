"""Reading an upload safely: a zip archive is checked whole (names, links, sizes, ratios, counts)
from its directory before one byte is extracted, then each member is read with its declared size
enforced. Anything wrong refuses the whole upload with a report; nothing is written before then."""
from __future__ import annotations

import posixpath
import re
import stat
import zipfile
from dataclasses import dataclass, field

from flask import current_app

_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
ZIP_UTF8_FLAG = 0x800


@dataclass
class UploadRefused(Exception):
    """The upload was refused whole; `problems` says why, one line each."""

    problems: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        shown = self.problems[:10]
        more = len(self.problems) - len(shown)
        return "Nothing was imported. " + " ".join(shown) + (f" (and {more} more problems)" if more > 0 else "")


@dataclass
class Limits:
    max_files: int
    max_file_bytes: int
    max_total_bytes: int
    max_ratio: int

    @classmethod
    def from_config(cls) -> Limits:
        config = current_app.config
        return cls(config["PROJECT_MAX_FILES"], config["PROJECT_MAX_FILE_BYTES"], config["PROJECT_MAX_TOTAL_BYTES"],
                   config["PROJECT_MAX_ZIP_RATIO"])


def clean_path(name: str) -> str | None:
    """A safe relative path for `name` (forward slashes, no `..`, not absolute, no drive, no control
    characters), or None when it is not one."""
    if not name or _CONTROL.search(name) or "\\" in name or name.startswith("/") or _DRIVE.match(name):
        return None
    parts = name.split("/")
    if any(part in ("..", ".") for part in parts):
        return None
    path = posixpath.normpath(name)
    if path.startswith("..") or path.startswith("/") or path == "." or len(path) > 500:
        return None
    return path


def _name_of(info: zipfile.ZipInfo) -> str | None:
    """The member's name if it was stored as UTF-8 (or plain ASCII); None for other encodings."""
    if info.flag_bits & ZIP_UTF8_FLAG:
        return info.filename
    try:
        # zipfile decoded a name without the UTF-8 flag as cp437: undo that to see its bytes.
        raw = info.filename.encode("cp437")
    except UnicodeEncodeError:
        return None
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        return None


def read_zip(stream, limits: Limits) -> dict[str, bytes]:
    """The archive's files as {path: bytes}, or UploadRefused listing every problem found."""
    try:
        archive = zipfile.ZipFile(stream)
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise UploadRefused(["The file is not a zip archive that can be read."]) from None
    problems: list[str] = []
    files = [info for info in members if not info.is_dir()]
    if len(members) > limits.max_files:
        raise UploadRefused([f"The archive holds {len(members):,} entries; a project takes at most "
                             f"{limits.max_files:,} files."])
    total = 0
    chosen: list[tuple[str, zipfile.ZipInfo]] = []
    seen: set[str] = set()
    for info in files:
        name = _name_of(info)
        shown = info.filename.encode("unicode_escape").decode("ascii")[:120]
        if name is None:
            problems.append(f"“{shown}”: its name is not UTF-8.")
            continue
        path = clean_path(name)
        if path is None:
            problems.append(f"“{shown}”: the name points outside the project (absolute, a drive or ‘..’).")
            continue
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            problems.append(f"“{shown}”: symbolic links are not accepted.")
            continue
        if mode and not stat.S_ISREG(mode) and stat.S_IFMT(mode):
            problems.append(f"“{shown}”: only regular files are accepted.")
            continue
        if info.file_size > limits.max_file_bytes:
            problems.append(f"“{shown}”: {info.file_size:,} bytes, more than the {limits.max_file_bytes:,} allowed "
                            "for one file.")
            continue
        if info.file_size > 1024 and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            problems.append(f"“{shown}”: it expands {info.file_size // max(info.compress_size, 1):,} times "
                            f"(at most {limits.max_ratio} allowed): a zip bomb?")
            continue
        if path in seen:
            problems.append(f"“{shown}”: the archive holds this path twice.")
            continue
        seen.add(path)
        total += info.file_size
        chosen.append((path, info))
    if total > limits.max_total_bytes:
        problems.append(f"The files add up to {total:,} bytes, more than the {limits.max_total_bytes:,} a project "
                        "may hold.")
    if problems:
        raise UploadRefused(problems)
    contents: dict[str, bytes] = {}
    for path, info in chosen:
        try:
            with archive.open(info) as member:
                # Never trust the directory's size: read one byte past it and refuse if it is there.
                data = member.read(info.file_size + 1)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError):
            raise UploadRefused([f"“{path}”: it could not be read (damaged or encrypted)."]) from None
        if len(data) != info.file_size:
            raise UploadRefused([f"“{path}”: its size does not match the archive's directory."])
        contents[path] = data
    return contents


def read_files(uploads: list[tuple[str, object]], limits: Limits) -> dict[str, bytes]:
    """Single uploaded files as {name: bytes}, each read within its limit."""
    problems: list[str] = []
    contents: dict[str, bytes] = {}
    if len(uploads) > limits.max_files:
        raise UploadRefused([f"{len(uploads):,} files sent; at most {limits.max_files:,} at once."])
    total = 0
    for name, stream in uploads:
        path = clean_path(posixpath.basename((name or "").replace("\\", "/")))
        if path is None:
            problems.append("A file without a usable name was sent.")
            continue
        data = stream.read(limits.max_file_bytes + 1)
        if len(data) > limits.max_file_bytes:
            problems.append(f"“{path}”: more than the {limits.max_file_bytes:,} bytes allowed for one file.")
            continue
        total += len(data)
        contents[path] = data
    if total > limits.max_total_bytes:
        problems.append(f"The files add up to more than the {limits.max_total_bytes:,} bytes a project may hold.")
    if problems:
        raise UploadRefused(problems)
    return contents
