"""Prompts, tags and usage (seed 003 `prompt_library`, `prompt_tags`, `prompt_library_tags`,
`prompt_usage_events`; the `variables` of seed 003 `nexus_templates` merged into `prompt_library`),
and `prompt_views`, which counts a viewer once per day."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Optional

from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, query_expression, relationship

from app.extensions import db
from app.models.base import JSONType, Timestamps, UTCDateTime, UUIDPrimaryKey, user_ref_set_null, utcnow

VISIBILITIES = ("private", "public")
# `none` while private; a public prompt is pending until a moderator approves or rejects it.
MODERATION_STATUSES = ("none", "pending", "approved", "rejected")

prompt_library_tags = Table(
    "prompt_library_tags",
    db.metadata,
    Column("prompt_id", Uuid, ForeignKey("prompt_library.id", ondelete="CASCADE"), nullable=False),
    Column("tag_id", Integer, ForeignKey("prompt_tags.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime, default=utcnow, nullable=False),
    PrimaryKeyConstraint("prompt_id", "tag_id", name="pk_prompt_library_tags"),
    # The tag filter goes from a tag to its prompts.
    Index("ix_prompt_library_tags_tag", "tag_id", "prompt_id"),
)


class Tag(db.Model):
    """A tag name, stored lower-case so `Writing` and `writing` are one tag."""

    __tablename__ = "prompt_tags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Prompt(UUIDPrimaryKey, Timestamps, db.Model):
    """A reusable prompt with `{{variables}}`; `version` guards edits (optimistic locking)."""

    __tablename__ = "prompt_library"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    description: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    # [{"name": ..., "default": ...}], parsed from `content` when it is saved.
    variables: Mapped[list] = mapped_column(JSONType, default=list)
    visibility: Mapped[str] = mapped_column(String(10), default="private")
    moderation_status: Mapped[str] = mapped_column(String(10), default="none")
    moderation_reason: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    moderated_by: Mapped[Optional[uuid.UUID]] = user_ref_set_null()
    moderated_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    submitted_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    source_message_id: Mapped[Optional[uuid.UUID]] = mapped_column(
        Uuid, ForeignKey("nexus_messages.id", ondelete="SET NULL"), nullable=True)
    source_conversation_id: Mapped[Optional[uuid.UUID]] = mapped_column(
        Uuid, ForeignKey("nexus_conversations.id", ondelete="SET NULL"), nullable=True)
    view_count: Mapped[int] = mapped_column(Integer, default=0)
    use_count: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    deleted_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)

    # The first characters of `content`, filled by lists (which do not read whole texts).
    preview: Mapped[Optional[str]] = query_expression()

    author = relationship("User", foreign_keys=[user_id], lazy="raise")
    tags: Mapped[list[Tag]] = relationship(secondary=prompt_library_tags, lazy="raise", order_by=Tag.name)

    # Every UPDATE says `WHERE version = <read>` and bumps it: a concurrent write is detected.
    __mapper_args__ = {"version_id_col": version}

    __table_args__ = (
        CheckConstraint("visibility IN ('private', 'public')", name="visibility_known"),
        CheckConstraint("moderation_status IN ('none', 'pending', 'approved', 'rejected')",
                        name="moderation_status_known"),
        CheckConstraint("(visibility = 'private' AND moderation_status = 'none') OR "
                        "(visibility = 'public' AND moderation_status IN ('pending', 'approved', 'rejected'))",
                        name="moderation_matches_visibility"),
        CheckConstraint("view_count >= 0 AND use_count >= 0", name="counts_not_negative"),
        CheckConstraint("version > 0", name="version_positive"),
        # "Mine": one person's prompts, newest or most used first.
        Index("ix_prompt_library_user_created", "user_id", "created_at"),
        Index("ix_prompt_library_user_uses", "user_id", "use_count"),
        # "Public" (approved), newest or most used first; the moderation queue (pending), oldest first.
        Index("ix_prompt_library_status_created", "moderation_status", "created_at"),
        Index("ix_prompt_library_status_uses", "moderation_status", "use_count"),
        Index("ix_prompt_library_status_submitted", "moderation_status", "submitted_at"),
    )

    @property
    def is_approved(self) -> bool:
        return self.moderation_status == "approved"

    @property
    def text_segments(self):
        """The text cut into literal pieces and variables, for a template to show escaped."""
        from app.prompts.variables import segments

        return segments(self.content)


class PromptUsageEvent(UUIDPrimaryKey, db.Model):
    """One use of a prompt, with the text it was filled to (the chat composer reads it back).
    A UUID rather than the seed's integer: its id travels in a URL (`/chat?prompt_use=`)."""

    __tablename__ = "prompt_usage_events"

    prompt_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("prompt_library.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(20), default="use")
    filled_content: Mapped[str] = mapped_column(Text)
    conversation_id: Mapped[Optional[uuid.UUID]] = mapped_column(
        Uuid, ForeignKey("nexus_conversations.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint("event_type IN ('use')", name="event_type_known"),
        Index("ix_prompt_usage_events_prompt_created", "prompt_id", "created_at"),
        Index("ix_prompt_usage_events_user_created", "user_id", "created_at"),
    )


class PromptView(db.Model):
    """Who viewed which prompt on which (UTC) day: the key makes a view count once per viewer per day."""

    __tablename__ = "prompt_views"

    prompt_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("prompt_library.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    viewed_on: Mapped[date] = mapped_column(Date, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
