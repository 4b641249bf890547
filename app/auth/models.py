"""Users, their server-side sessions (seed 002 `user_sessions`) and every sign-in attempt (seed 000 `auth_events`)."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Optional

from flask_login import UserMixin
from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Text, Uuid, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import JSONType, Timestamps, UTCDateTime, UUIDPrimaryKey, user_ref_set_null, utcnow


class User(UUIDPrimaryKey, Timestamps, UserMixin, db.Model):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    hashed_password: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default="user")
    is_active_account: Mapped[bool] = mapped_column("is_active", Boolean, default=True)
    last_login_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    # With STUDIO_SIGNUP_APPROVAL, new accounts wait ("pending") until an admin approves or rejects them.
    approval_status: Mapped[str] = mapped_column(String(20), default="approved", server_default="approved")
    # False only for sign-ups under STUDIO_EMAIL_VERIFICATION until they follow the link mailed to them.
    is_email_verified: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    metadata_json: Mapped[Optional[dict]] = mapped_column("metadata", JSONType, nullable=True)

    __table_args__ = (
        CheckConstraint("role IN ('user', 'moderator', 'admin')", name="role_known"),
        CheckConstraint("approval_status IN ('approved', 'pending', 'rejected')", name="approval_status_known"),
        Index("ix_users_created_at", "created_at"),
    )

    # Set by the user loader: the server-side session this request belongs to.
    current_session = None  # a UserSession, or None

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive accounts
        return self.is_active_account

    @property
    def is_awaiting_approval(self) -> bool:
        return self.approval_status != "approved"

    def get_id(self) -> str:
        # Flask-Login keeps this in the cookie: the session token, so the server can revoke it.
        token = getattr(self, "_session_token", None)
        return token or ""


class UserSession(UUIDPrimaryKey, Timestamps, db.Model):
    """One signed-in browser; the cookie carries a token whose SHA-256 is `refresh_jti`."""

    __tablename__ = "user_sessions"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    refresh_jti: Mapped[str] = mapped_column(String(64), unique=True)
    ip_masked: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[Optional[str]] = mapped_column(String(512), nullable=True)
    client_platform: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    client_browser: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    client_device: Mapped[Optional[str]] = mapped_column(String(32), nullable=True)
    last_seen_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    revoked_reason: Mapped[Optional[str]] = mapped_column(String(256), nullable=True)

    user: Mapped[User] = relationship(lazy="joined")

    __table_args__ = (Index("ix_user_sessions_user_last_seen", "user_id", "last_seen_at"),)

    @property
    def device_label(self) -> str:
        parts = [p for p in (self.client_browser, self.client_platform) if p]
        return " on ".join(parts) if parts else "Unknown device"


class AuthEvent(UUIDPrimaryKey, db.Model):
    """A sign-in attempt or another security event of an account."""

    __tablename__ = "auth_events"

    user_id: Mapped[Optional[uuid.UUID]] = user_ref_set_null()
    event_type: Mapped[str] = mapped_column(String(40))
    login_identifier: Mapped[Optional[str]] = mapped_column(String(254), nullable=True)
    ip_address: Mapped[Optional[str]] = mapped_column(String(45), nullable=True)
    user_agent: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    success: Mapped[bool] = mapped_column(Boolean)
    failure_reason: Mapped[Optional[str]] = mapped_column(String(80), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (
        Index("ix_auth_events_identifier_created", "login_identifier", "created_at"),
        Index("ix_auth_events_ip_created", "ip_address", "created_at"),
        Index("ix_auth_events_user_created", "user_id", "created_at"),
    )
