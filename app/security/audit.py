"""The audit log (seed 001 `audit_log`): who did what to which entity, before and after."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Optional

from sqlalchemy import Index, String, Text, event
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.extensions import db
from app.models.base import JSONType, UTCDateTime, UUIDPrimaryKey, user_ref_set_null, utcnow


class AuditLog(UUIDPrimaryKey, db.Model):
    __tablename__ = "audit_log"

    user_id: Mapped[Optional[uuid.UUID]] = user_ref_set_null()
    entity_type: Mapped[str] = mapped_column(String(50))
    entity_id: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(50))
    changes: Mapped[Optional[dict]] = mapped_column(JSONType, nullable=True)
    ip_address: Mapped[Optional[str]] = mapped_column(String(45), nullable=True)
    user_agent: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (
        Index("ix_audit_log_created_at", "created_at"),
        Index("ix_audit_log_entity", "entity_type", "entity_id"),
    )


def record_audit(
    actor_id: uuid.UUID | None,
    entity_type: str,
    entity_id: Any,
    action: str,
    *,
    before: dict | None = None,
    after: dict | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> AuditLog:
    """Add an audit entry to the current transaction (the caller commits)."""
    entry = AuditLog(
        user_id=actor_id,
        entity_type=entity_type,
        entity_id=str(entity_id) if entity_id is not None else None,
        action=action,
        changes={"before": before, "after": after} if (before or after) else None,
        ip_address=ip_address,
        user_agent=(user_agent or "")[:512] or None,
    )
    db.session.add(entry)
    return entry


class AuditLogIsAppendOnly(RuntimeError):
    """Raised when code tries to change or remove an audit entry."""


@event.listens_for(AuditLog, "before_update")
@event.listens_for(AuditLog, "before_delete")
def _refuse_changing_an_entry(_mapper, _connection, entry):
    raise AuditLogIsAppendOnly(f"audit entry {entry.id} cannot be changed or deleted")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_changes(state):
    """Bulk UPDATE and DELETE statements on the model bypass the per-object events: refuse them too."""
    if (state.is_update or state.is_delete) and any(
            mapper.class_ is AuditLog for mapper in state.all_mappers):
        raise AuditLogIsAppendOnly("audit entries cannot be changed or deleted")
