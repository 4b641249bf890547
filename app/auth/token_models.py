"""Single-use links sent to a person (password reset, e-mail confirmation): only a keyed hash of the token is kept."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime, UUIDPrimaryKey, user_ref_set_null, utcnow


class AccountToken(UUIDPrimaryKey, db.Model):
    """One link: for whom, what it does, until when, and whether it was used."""

    __tablename__ = "account_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(30))
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    # An admin who made the link to hand over (no mail server); None when it was mailed.
    created_by_id: Mapped[uuid.UUID | None] = user_ref_set_null()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (
        CheckConstraint("purpose IN ('password_reset', 'email_verification')", name="purpose_known"),
        Index("ix_account_tokens_user_purpose_created", "user_id", "purpose", "created_at"),
    )
