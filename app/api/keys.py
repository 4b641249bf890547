"""Personal API keys: create (the whole key shown once), list by prefix, revoke, and the Bearer check."""
from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from sqlalchemy import select, update

from app.api.models import SCOPES, ApiKey
from app.auth.models import User
from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.models.base import utcnow
from app.security.audit import record_audit
from app.security.keyed_hash import keyed_digest
from app.security.origin import Origin

KEY_PREFIX = "studio"
MAX_KEYS_PER_USER = 50
MAX_KEY_LENGTH = 100
EXPIRY_DAYS = (7, 30, 90, 365)
# last_used_at is written at most this often per key, so busy keys do not write on every call.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def _digest(key: str) -> str:
    return keyed_digest("api-key", key)


def keys_of(user: User) -> list[ApiKey]:
    """The user's keys, newest first (at most MAX_KEYS_PER_USER exist)."""
    return list(db.session.scalars(select(ApiKey).where(ApiKey.user_id == user.id)
                                   .order_by(ApiKey.created_at.desc()).limit(MAX_KEYS_PER_USER)))


def create_key(user: User, name: str, scopes: list[str], expires_in_days: int | None,
               origin: Origin) -> tuple[ApiKey, str]:
    """A new key; returns the row and the whole key, which is never stored or shown again."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed("Give the key a name of up to 100 characters.")
    scopes = sorted(set(scopes or []))
    if not scopes or not set(scopes) <= set(SCOPES):
        raise ValidationFailed("Choose at least one scope.")
    if expires_in_days is not None and expires_in_days not in EXPIRY_DAYS:
        raise ValidationFailed("Choose an expiry.")
    active = [key for key in keys_of(user) if key.revoked_at is None]
    if len(active) >= MAX_KEYS_PER_USER:
        raise ValidationFailed(f"You have {MAX_KEYS_PER_USER} keys; revoke one first.")
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"  # 256 random bits after the prefix
    row = ApiKey(user_id=user.id, name=name, key_prefix=f"{KEY_PREFIX}_{prefix}", key_hash=_digest(key),
                 scopes=scopes,
                 expires_at=utcnow() + timedelta(days=expires_in_days) if expires_in_days else None)
    db.session.add(row)
    db.session.flush()
    record_audit(user.id, "api_key", row.id, "create", after={"name": name, "scopes": scopes,
                                                             "prefix": row.key_prefix},
                 ip_address=origin.ip_address, user_agent=origin.user_agent)
    db.session.commit()
    return row, key


def revoke_key(user: User, key_id: uuid.UUID, origin: Origin) -> ApiKey:
    """Revoke one of the user's keys (another user's answers NotFound)."""
    row = db.session.get(ApiKey, key_id)
    if row is None or row.user_id != user.id:
        raise NotFound("There is no such API key.")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        record_audit(user.id, "api_key", row.id, "revoke", ip_address=origin.ip_address,
                     user_agent=origin.user_agent)
        db.session.commit()
    return row


def authenticate(key: str) -> ApiKey | None:
    """The key row behind a presented key, if it is live (not revoked, not expired) and its owner's
    account is active; None otherwise. Notes when it was last used."""
    if not key or len(key) > MAX_KEY_LENGTH or not key.startswith(f"{KEY_PREFIX}_") or not key.isascii():
        return None
    row = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == _digest(key)))
    now = utcnow()
    if row is None or row.revoked_at is not None or row.is_expired(now):
        return None
    user = db.session.get(User, row.user_id)
    if user is None or not user.is_active_account:
        return None
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        db.session.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now)
                           .execution_options(synchronize_session=False))
        db.session.commit()
        row = db.session.get(ApiKey, row.id)
    return row
