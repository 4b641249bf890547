"""Two-factor sign-in: a user's TOTP method (seed 002 `user_mfa_methods`), their single-use recovery
codes (seed 002 `user_recovery_codes`), and which roles must use two-factor sign-in."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, String, Uuid, false
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import Timestamps, UTCDateTime, UUIDPrimaryKey, utcnow


class MfaMethod(UUIDPrimaryKey, Timestamps, db.Model):
    """A TOTP authenticator; `verified_at` is empty until the user confirms it with a code."""

    __tablename__ = "user_mfa_methods"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    method_type: Mapped[str] = mapped_column(String(10), default="totp")
    label: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The base32 secret sealed: `v1:<Fernet token>` (auth.totp_secrets); from before migration 0019 it
    # may still be plain base32 until it next accepts a code or `flask users encrypt-totp-secrets` runs.
    secret: Mapped[str] = mapped_column(String(255))
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The 30-second step of the last code accepted: a code of that step or earlier is never taken again.
    last_used_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (
        CheckConstraint("method_type IN ('totp')", name="method_type_known"),
        Index("uq_user_mfa_methods_user_type", "user_id", "method_type", unique=True),
    )

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None


class RecoveryCode(UUIDPrimaryKey, db.Model):
    """A single-use code that stands in for the authenticator; only its keyed hash is kept."""

    __tablename__ = "user_recovery_codes"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(128))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (Index("ix_user_recovery_codes_user", "user_id"),)


class RolePolicy(db.Model):
    """What an administrator requires of every account with a role."""

    __tablename__ = "role_policies"

    role: Mapped[str] = mapped_column(String(20), primary_key=True)
    is_two_factor_required: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)

    __table_args__ = (CheckConstraint("role IN ('user', 'moderator', 'admin')", name="role_known"),)
