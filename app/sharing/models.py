"""A share link: a long random token, an optional expiry, and the snapshot boundary."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Optional

from sqlalchemy import ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime, UUIDPrimaryKey, utcnow


class Share(UUIDPrimaryKey, db.Model):
    __tablename__ = "nexus_shares"

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("nexus_conversations.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    share_token: Mapped[str] = mapped_column(String(64), unique=True)
    # The snapshot: messages up to and including this one (UUIDv7 ids are ordered).
    snapshot_message_id: Mapped[Optional[uuid.UUID]] = mapped_column(Uuid, nullable=True)
    snapshot_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    view_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_nexus_shares_user_created", "user_id", "created_at"),
        Index("ix_nexus_shares_conversation", "conversation_id"),
    )

    def is_live(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
