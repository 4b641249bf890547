"""Reading the audit log: filters, before/after differences, export. Entries are never changed here
(the model refuses updates and deletes: app.security.audit)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select

from app.auth.models import User
from app.core.pages import paginate
from app.extensions import db
from app.models.base import escape_like
from app.security.audit import AuditLog

AUDIT_PAGE_SIZE = 50
EXPORT_LIMIT = 100_000


@dataclass
class AuditFilters:
    actor: str = ""  # part of the actor's e-mail
    action: str = ""
    entity: str = ""
    since: date | None = None
    until: date | None = None  # inclusive

    @classmethod
    def from_args(cls, args) -> AuditFilters:
        """Filters from query arguments; unreadable dates are ignored."""
        def text(name: str, size: int) -> str:
            return (args.get(name) or "").replace("\x00", "").strip()[:size]

        return cls(actor=text("actor", 254), action=text("action", 50), entity=text("entity", 50),
                   since=_date(args.get("since")), until=_date(args.get("until")))

    def as_args(self) -> dict[str, str]:
        """The filters as query arguments (for paging and the export link)."""
        values = {"actor": self.actor, "action": self.action, "entity": self.entity,
                  "since": self.since.isoformat() if self.since else "",
                  "until": self.until.isoformat() if self.until else ""}
        return {name: value for name, value in values.items() if value}


def _date(text: str | None) -> date | None:
    try:
        return date.fromisoformat((text or "").strip()[:10])
    except ValueError:
        return None


def _statement(filters: AuditFilters):
    statement = (select(AuditLog, User.email).outerjoin(User, User.id == AuditLog.user_id)
                 .order_by(AuditLog.created_at.desc(), AuditLog.id.desc()))
    if filters.actor:
        if filters.actor.lower() == "system":
            statement = statement.where(AuditLog.user_id.is_(None))
        else:
            statement = statement.where(User.email.like(f"%{escape_like(filters.actor.lower())}%", escape="\\"))
    if filters.action:
        statement = statement.where(AuditLog.action == filters.action)
    if filters.entity:
        statement = statement.where(AuditLog.entity_type == filters.entity)
    if filters.since:
        statement = statement.where(AuditLog.created_at >= _start_of(filters.since))
    if filters.until:
        statement = statement.where(AuditLog.created_at < _start_of(filters.until + timedelta(days=1)))
    return statement


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def audit_page(filters: AuditFilters, page: int) -> tuple[list[tuple[AuditLog, str | None]], bool]:
    """A page of matching entries, newest first, each with its actor's e-mail (one query)."""
    rows, has_more = paginate(_statement(filters), page, AUDIT_PAGE_SIZE)
    return [tuple(row) for row in rows], has_more


def audit_rows_for_export(filters: AuditFilters):
    """Every matching entry (up to EXPORT_LIMIT), newest first, as CSV rows."""
    result = db.session.execute(_statement(filters).limit(EXPORT_LIMIT).execution_options(yield_per=1000))
    for entry, email in result:
        changes = entry.changes or {}
        yield [entry.created_at.isoformat(), email or "system", entry.entity_type, entry.entity_id or "",
               entry.action, _json(changes.get("before")), _json(changes.get("after")),
               entry.ip_address or "", entry.user_agent or ""]


AUDIT_CSV_HEADER = ["created_at", "actor", "entity_type", "entity_id", "action", "before", "after",
                    "ip_address", "user_agent"]


def _json(value) -> str:
    return "" if value is None else json.dumps(value, sort_keys=True, default=str)


@dataclass
class Difference:
    field: str
    before: object
    after: object

    @property
    def changed(self) -> bool:
        return self.before != self.after


def differences(entry: AuditLog) -> list[Difference]:
    """The entry's before and after, field by field (a field missing on one side is None there)."""
    changes = entry.changes or {}
    before = changes.get("before") or {}
    after = changes.get("after") or {}
    if not isinstance(before, dict) or not isinstance(after, dict):
        return [Difference("value", before, after)]
    return [Difference(name, before.get(name), after.get(name)) for name in sorted(set(before) | set(after))]


def known_actions() -> list[str]:
    """The actions recorded so far, for the filter's choices."""
    return list(db.session.scalars(select(AuditLog.action).distinct().order_by(AuditLog.action).limit(200)))


def known_entities() -> list[str]:
    """The entity types recorded so far, for the filter's choices."""
    return list(db.session.scalars(select(AuditLog.entity_type).distinct().order_by(AuditLog.entity_type)
                                   .limit(200)))
