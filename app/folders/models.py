"""A user's folder; conversations point at it with `nexus_conversations.folder_id` (seed 003)."""
from __future__ import annotations

import uuid
from typing import Optional

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import Timestamps, UUIDPrimaryKey

FOLDER_COLORS = ("gray", "blue", "green", "yellow", "orange", "red", "purple", "pink")
FOLDER_ICONS = ("folder", "star", "book", "code", "briefcase", "flask", "heart", "bolt")


class Folder(UUIDPrimaryKey, Timestamps, db.Model):
    __tablename__ = "nexus_folders"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    parent_id: Mapped[Optional[uuid.UUID]] = mapped_column(
        Uuid, ForeignKey("nexus_folders.id", ondelete="SET NULL"), nullable=True)
    name: Mapped[str] = mapped_column(String(100))
    color: Mapped[str] = mapped_column(String(20), default="gray")
    icon: Mapped[str] = mapped_column(String(20), default="folder")
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    is_expanded: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (
        Index("ix_nexus_folders_user_parent", "user_id", "parent_id", "sort_order"),
        CheckConstraint("color IN (" + ", ".join(f"'{c}'" for c in FOLDER_COLORS) + ")", name="color_known"),
        CheckConstraint("icon IN (" + ", ".join(f"'{i}'" for i in FOLDER_ICONS) + ")", name="icon_known"),
    )
