"""Projects, their files, validation runs, findings, checkpoints and rollbacks (seed 000 `projects`,
`project_errors`, `validation_runs`, `checkpoints`, `checkpoint_files`, `rollback_events`; plus
`project_files`, the files a project holds now, each naming a blob stored by its SHA-256)."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Optional

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.extensions import db
from app.models.base import JSONType, Timestamps, UTCDateTime, UUIDPrimaryKey, user_ref_set_null, utcnow

MAX_NAME_CHARS = 120
MAX_DESCRIPTION_CHARS = 2_000
MAX_PATH_CHARS = 500
MAX_NOTES_CHARS = 2_000
SEVERITIES = ("error", "warning", "info")
RUN_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
VALIDATOR_STATUSES = ("unknown", "passed", "warnings", "failed", "skipped", "unavailable")


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


class Project(UUIDPrimaryKey, Timestamps, db.Model):
    """A set of files a user uploaded, with the latest validation's health and counts."""

    __tablename__ = "projects"

    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(MAX_NAME_CHARS))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="active")
    health_score: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    schema_status: Mapped[str] = mapped_column(String(20), default="unknown")
    sheriff_status: Mapped[str] = mapped_column(String(20), default="unknown")
    gauntlet_status: Mapped[str] = mapped_column(String(20), default="unknown")
    last_validated_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    warning_count: Mapped[int] = mapped_column(Integer, default=0)
    validation_count: Mapped[int] = mapped_column(Integer, default=0)
    file_count: Mapped[int] = mapped_column(Integer, default=0)
    total_size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    # Only an admin turns the gauntlet (the project's own test command) on.
    is_gauntlet_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The project's settings: json_schemas {glob: schema path}, forbidden_patterns [text],
    # max_file_bytes, test_command.
    settings: Mapped[dict] = mapped_column("metadata", JSONType, default=dict)

    owner: Mapped[User] = relationship(lazy="raise")

    __table_args__ = (
        CheckConstraint(f"length(name) BETWEEN 1 AND {MAX_NAME_CHARS}", name="name_length"),
        CheckConstraint(f"length(description) <= {MAX_DESCRIPTION_CHARS}", name="description_length"),
        CheckConstraint("health_score IS NULL OR health_score BETWEEN 0 AND 100", name="health_score_range"),
        CheckConstraint("error_count >= 0 AND warning_count >= 0 AND validation_count >= 0 AND file_count >= 0 "
                        "AND total_size_bytes >= 0", name="counts_not_negative"),
        Index("ix_projects_owner", "owner_id", "created_at"),
    )


class ProjectFile(UUIDPrimaryKey, db.Model):
    """A file the project holds now: its path and the blob (by SHA-256) with its bytes."""

    __tablename__ = "project_files"

    project_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("projects.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(String(MAX_PATH_CHARS))
    file_hash: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("project_id", "path", name="uq_project_files_project_path"),
        CheckConstraint("size_bytes >= 0", name="size_not_negative"),
    )


class ValidationRun(UUIDPrimaryKey, db.Model):
    """One validation of a project: which validators ran, how long, what they found."""

    __tablename__ = "validation_runs"

    project_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("projects.id", ondelete="CASCADE"))
    job_id: Mapped[Optional[uuid.UUID]] = mapped_column(Uuid, ForeignKey("jobs.id", ondelete="SET NULL"),
                                                        nullable=True)
    run_type: Mapped[str] = mapped_column(String(40), default="full")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    duration_ms: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    errors_found: Mapped[int] = mapped_column(Integer, default=0)
    warnings_found: Mapped[int] = mapped_column(Integer, default=0)
    triggered_by: Mapped[Optional[uuid.UUID]] = user_ref_set_null()
    trigger_source: Mapped[str] = mapped_column(String(20), default="page")
    # counts per severity, per-validator status and notes, health score, file count
    summary: Mapped[dict] = mapped_column(JSONType, default=dict)
    details: Mapped[dict] = mapped_column("metadata", JSONType, default=dict)

    __table_args__ = (
        CheckConstraint(_in("status", RUN_STATUSES), name="status_known"),
        Index("ix_validation_runs_project", "project_id", "started_at"),
    )


class ProjectError(UUIDPrimaryKey, db.Model):
    """A finding of a run: file, line, severity, category, source; resolved or open (who, when, notes)."""

    __tablename__ = "project_errors"

    project_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("projects.id", ondelete="CASCADE"))
    run_id: Mapped[Optional[uuid.UUID]] = mapped_column(
        Uuid, ForeignKey("validation_runs.id", ondelete="CASCADE"), nullable=True)
    error_code: Mapped[str] = mapped_column(String(60))
    message: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(10))
    category: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(40))
    file_path: Mapped[Optional[str]] = mapped_column(String(MAX_PATH_CHARS), nullable=True)
    line_number: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    resolved_by: Mapped[Optional[uuid.UUID]] = user_ref_set_null()
    resolution_notes: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    details: Mapped[dict] = mapped_column("metadata", JSONType, default=dict)

    resolver: Mapped[Optional[User]] = relationship(foreign_keys=[resolved_by], lazy="raise")

    __table_args__ = (
        CheckConstraint(_in("severity", SEVERITIES), name="severity_known"),
        CheckConstraint("(resolved_at IS NULL) = (resolved_by IS NULL)", name="resolved_by_iff_resolved"),
        Index("ix_project_errors_run", "run_id", "severity", "file_path"),
        Index("ix_project_errors_project", "project_id", "created_at"),
    )

    @property
    def fingerprint(self) -> tuple:
        return (self.source, self.error_code, self.file_path, self.line_number, self.message)


class Checkpoint(UUIDPrimaryKey, db.Model):
    """A snapshot of the project's files (paths and blob hashes; the blobs stay in storage)."""

    __tablename__ = "checkpoints"

    project_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("projects.id", ondelete="CASCADE"))
    created_by: Mapped[Optional[uuid.UUID]] = user_ref_set_null()
    description: Mapped[str] = mapped_column(Text, default="")
    schema_version: Mapped[str] = mapped_column(String(20), default="1")
    file_count: Mapped[int] = mapped_column(Integer, default=0)
    total_size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    storage_path: Mapped[str] = mapped_column(String(500), default="blobs")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    details: Mapped[dict] = mapped_column("metadata", JSONType, default=dict)

    __table_args__ = (Index("ix_checkpoints_project", "project_id", "created_at"),)


class CheckpointFile(UUIDPrimaryKey, db.Model):
    """One file of a checkpoint."""

    __tablename__ = "checkpoint_files"

    checkpoint_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("checkpoints.id", ondelete="CASCADE"))
    file_path: Mapped[str] = mapped_column(String(MAX_PATH_CHARS))
    file_hash: Mapped[str] = mapped_column(String(64))
    file_size_bytes: Mapped[int] = mapped_column(BigInteger)
    storage_key: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict] = mapped_column("metadata", JSONType, default=dict)

    __table_args__ = (Index("ix_checkpoint_files_checkpoint", "checkpoint_id", "file_path"),)


class RollbackEvent(UUIDPrimaryKey, db.Model):
    """A rollback of a project to a checkpoint: who, when, how many files, whether it worked."""

    __tablename__ = "rollback_events"

    checkpoint_id: Mapped[Optional[uuid.UUID]] = mapped_column(
        Uuid, ForeignKey("checkpoints.id", ondelete="SET NULL"), nullable=True)
    project_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("projects.id", ondelete="CASCADE"))
    triggered_by: Mapped[Optional[uuid.UUID]] = user_ref_set_null()
    trigger_reason: Mapped[str] = mapped_column(String(200), default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="completed")
    files_restored: Mapped[int] = mapped_column(Integer, default=0)
    files_failed: Mapped[int] = mapped_column(Integer, default=0)
    error_message: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    details: Mapped[dict] = mapped_column("metadata", JSONType, default=dict)

    __table_args__ = (
        CheckConstraint(_in("status", ("completed", "failed")), name="status_known"),
        Index("ix_rollback_events_project", "project_id", "started_at"),
    )
