"""UUIDv7 keys, timezone-aware UTC timestamps, the portable JSON type, and the two SQL helpers
every database needs the same way: LIKE escaping and "insert, ignore duplicates"."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

import uuid6
from sqlalchemy import JSON, DateTime, ForeignKey, TypeDecorator, Uuid
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, MappedColumn, mapped_column

from app.extensions import db

# Integer keys are 32-bit on PostgreSQL; a larger number is never an id, and binding one can overflow
# the driver (SQLite) or the column type (PostgreSQL), so lookups check first.
MAX_INTEGER_ID = 2**31 - 1


def commit_keeping_loaded() -> None:
    """Commit without expiring what the session holds, for a caller that goes on using rows it read
    or wrote a moment ago, in this request or thread: reading each again would cost a statement.
    Not for a caller that must see another process's later changes (read those with
    populate_existing)."""
    session = db.session()
    expire_on_commit, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire_on_commit


def is_integer_id(value) -> bool:
    """Whether `value` could be an Integer primary key (a positive int within the column's range)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_INTEGER_ID


def new_uuid() -> uuid.UUID:
    """A time-ordered UUIDv7, so primary keys index like a sequence."""
    return uuid.UUID(bytes=uuid6.uuid7().bytes)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamptz on PostgreSQL; on SQLite, stored naive in UTC and read back aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSON everywhere, JSONB on PostgreSQL.
JSONType = JSON().with_variant(JSONB(), "postgresql")


class UUIDPrimaryKey:
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False
    )


def user_ref_set_null(name: str | None = None) -> MappedColumn:
    """A column naming a user that becomes NULL when the account is deleted: the row outlives its author."""
    args = (name,) if name else ()
    return mapped_column(*args, Uuid, ForeignKey("users.id", ondelete="SET NULL"), nullable=True)


def escape_like(text: str) -> str:
    """`text` matched literally inside a LIKE pattern written with `escape="\\"`."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def insert_ignoring_duplicates(table, index_elements=None):
    """INSERT … ON CONFLICT DO NOTHING on SQLite or PostgreSQL, whichever the session uses: a row
    that a unique constraint already holds (a concurrent duplicate too) is skipped, not an error,
    and no savepoint is needed. Add `.values()` or `.from_select()`, and `.returning()` to learn
    which rows were new."""
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing(index_elements=index_elements)
