"""Ideas, votes and notes (seed 003 `ideas`, `idea_votes`, `idea_notes`)."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Optional

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.extensions import db
from app.models.base import Timestamps, UTCDateTime, UUIDPrimaryKey, user_ref_set_null, utcnow

# Stored values and what people read; the CHECK constraints below list the same values.
STATUSES = {
    "new": "New",
    "planned": "Planned",
    "in_progress": "In progress",
    "completed": "Completed",
    "declined": "Declined",
}
PRIORITIES = {"low": "Low", "medium": "Medium", "high": "High"}
CLOSED_STATUSES = frozenset({"completed", "declined"})

MAX_TITLE_CHARS = 200
MAX_DESCRIPTION_CHARS = 10_000
MAX_NOTE_CHARS = 5_000


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


class Idea(UUIDPrimaryKey, Timestamps, db.Model):
    """A proposal on the board. Markdown and its sanitised HTML are stored together; the vote and
    note counts are columns kept exact by the services, so lists never count rows."""

    __tablename__ = "ideas"

    # Authors' ideas stay when an account goes (seed: retain content).
    user_id: Mapped[Optional[uuid.UUID]] = user_ref_set_null()
    title: Mapped[str] = mapped_column(String(MAX_TITLE_CHARS))
    description: Mapped[str] = mapped_column(Text, default="")
    description_html: Mapped[str] = mapped_column(Text, default="")
    renderer_version: Mapped[int] = mapped_column(Integer, default=1)
    priority_level: Mapped[str] = mapped_column(String(10), default="medium")
    status: Mapped[str] = mapped_column(String(20), default="new")
    vote_count: Mapped[int] = mapped_column(Integer, default=0)
    note_count: Mapped[int] = mapped_column(Integer, default=0)
    completed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    completed_by_id: Mapped[Optional[uuid.UUID]] = user_ref_set_null("completed_by")

    author: Mapped[Optional[User]] = relationship(foreign_keys=[user_id], lazy="raise")
    completed_by: Mapped[Optional[User]] = relationship(foreign_keys=[completed_by_id], lazy="raise")

    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="status_known"),
        CheckConstraint(_in("priority_level", PRIORITIES), name="priority_known"),
        CheckConstraint("vote_count >= 0", name="vote_count_not_negative"),
        CheckConstraint("note_count >= 0", name="note_count_not_negative"),
        CheckConstraint(f"length(title) BETWEEN 1 AND {MAX_TITLE_CHARS}", name="title_length"),
        CheckConstraint(f"length(description) <= {MAX_DESCRIPTION_CHARS}", name="description_length"),
        # Completed exactly when it has a completion time.
        CheckConstraint("(status = 'completed') = (completed_at IS NOT NULL)", name="completed_at_iff_completed"),
        # The board: sorted by votes or by newest, optionally within one status.
        Index("ix_ideas_votes", "vote_count", "id"),
        Index("ix_ideas_created", "created_at", "id"),
        Index("ix_ideas_status_votes", "status", "vote_count", "id"),
        Index("ix_ideas_status_created", "status", "created_at", "id"),
        Index("ix_ideas_user", "user_id"),
    )

    @property
    def status_label(self) -> str:
        return STATUSES.get(self.status, self.status)

    @property
    def priority_label(self) -> str:
        return PRIORITIES.get(self.priority_level, self.priority_level)

    @property
    def is_voting_open(self) -> bool:
        return self.status not in CLOSED_STATUSES

    @property
    def is_editable(self) -> bool:
        """Its author may still edit or delete it (only while nobody has triaged it)."""
        return self.status == "new"


class IdeaVote(UUIDPrimaryKey, db.Model):
    """One person's vote; the unique constraint is what makes it one."""

    __tablename__ = "idea_votes"

    idea_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("ideas.id", ondelete="CASCADE"))
    # A vote outlives its account (kept, still counted), so the stored count stays equal to the rows.
    user_id: Mapped[Optional[uuid.UUID]] = user_ref_set_null()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("idea_id", "user_id", name="uq_idea_votes_idea_user"),
        Index("ix_idea_votes_user", "user_id", "idea_id"),
    )


class IdeaNote(UUIDPrimaryKey, db.Model):
    """One note of the discussion under an idea; UUIDv7 ids keep them in order."""

    __tablename__ = "idea_notes"

    idea_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("ideas.id", ondelete="CASCADE"))
    user_id: Mapped[Optional[uuid.UUID]] = user_ref_set_null()
    content: Mapped[str] = mapped_column(Text)
    content_html: Mapped[str] = mapped_column(Text, default="")
    renderer_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    author: Mapped[Optional[User]] = relationship(lazy="raise")

    __table_args__ = (
        CheckConstraint(f"length(content) BETWEEN 1 AND {MAX_NOTE_CHARS}", name="content_length"),
        Index("ix_idea_notes_idea", "idea_id", "id"),
    )
