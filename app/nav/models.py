"""Navigation items (seed 003 `navigation_items`)."""
from __future__ import annotations

from typing import Optional

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class NavigationItem(db.Model):
    __tablename__ = "navigation_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(60))
    icon: Mapped[Optional[str]] = mapped_column(String(40), nullable=True)
    link: Mapped[Optional[str]] = mapped_column(String(200), nullable=True)
    parent_id: Mapped[Optional[int]] = mapped_column(
        Integer, ForeignKey("navigation_items.id", ondelete="SET NULL"), nullable=True
    )
    requires_role: Mapped[Optional[str]] = mapped_column(String(20), nullable=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    type: Mapped[str] = mapped_column(String(10), default="link")
    description: Mapped[Optional[str]] = mapped_column(Text, nullable=True)

    __table_args__ = (
        CheckConstraint("type IN ('link', 'section', 'divider')", name="type_known"),
        CheckConstraint(
            "requires_role IS NULL OR requires_role IN ('user', 'moderator', 'admin')", name="role_known"
        ),
    )

    def snapshot(self) -> dict:
        """The editable fields, for the audit log."""
        return {
            "label": self.label, "icon": self.icon, "link": self.link, "requires_role": self.requires_role,
            "position": self.position, "is_active": self.is_active, "type": self.type,
        }
