"""The one interface every validator implements, and what it reports."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Finding:
    """Something a validator found: where (file, line), how bad, what kind, and a message."""

    severity: str  # error, warning or info
    category: str
    code: str
    message: str
    file_path: str | None = None
    line: int | None = None
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class FileRef:
    path: str
    file_hash: str
    size_bytes: int


@dataclass
class ProjectView:
    """What a validator sees of a project: its files (read on demand) and its settings."""

    files: list[FileRef]
    settings: dict
    is_gauntlet_enabled: bool
    read: Callable[[FileRef], bytes]

    def by_path(self) -> dict[str, FileRef]:
        return {ref.path: ref for ref in self.files}


class ValidatorUnavailable(Exception):
    """The validator cannot run on this host (the gauntlet without network isolation)."""


class Validator:
    """Subclass, set `name`, `label` and `description`, implement `check`, and register it."""

    name = ""
    label = ""
    description = ""

    def is_enabled(self, project: ProjectView) -> bool:
        """Whether it runs for this project at all (skipped otherwise)."""
        return True

    def check(self, project: ProjectView, tick: Callable[[], None]) -> list[Finding]:
        """Check the project, calling `tick()` after each file or step (it may raise to stop)."""
        raise NotImplementedError
