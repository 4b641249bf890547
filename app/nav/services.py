"""Reading and editing the navigation."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import ColumnElement, String, func, select
from sqlalchemy.ext.compiler import compiles
from werkzeug.exceptions import HTTPException

from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.nav.models import NavigationItem
from app.security.audit import record_audit
from app.security.origin import Origin
from app.security.roles import role_at_least


@dataclass(frozen=True)
class NavEntry:
    label: str
    icon: str | None
    link: str | None
    type: str
    children: tuple[NavEntry, ...] = ()


def _route_exists(link: str) -> bool:
    adapter = current_app.url_map.bind("localhost")
    try:
        adapter.match(link.split("?", 1)[0], method="GET")
    except HTTPException:
        return False
    return True


def is_link_available(item) -> bool:
    """A link whose page exists; pages of features not built yet stay out of the bar."""
    return item.type != "link" or (bool(item.link) and _route_exists(item.link))


class _Fingerprint(ColumnElement):
    """Text that differs whenever any navigation item differs (one value for the whole table), to
    select beside other columns: PostgreSQL hashes the rows' text, SQLite concatenates their SQL
    literals (unambiguous, and read in-process)."""

    type = String()
    _traverse_internals = []  # nothing varies: one cache key, so the statement is compiled once
    inherit_cache = True


@compiles(_Fingerprint, "postgresql")
def _fingerprint_postgresql(_element, _compiler, **_kw):
    return ("(SELECT coalesce(md5(string_agg(n::text, '|' ORDER BY n.id)), '') "
            "FROM navigation_items AS n)")


@compiles(_Fingerprint)
def _fingerprint_sqlite(_element, _compiler, **_kw):
    row = " || ',' || ".join(f"quote({column.name})" for column in NavigationItem.__table__.columns)
    return (f"(SELECT coalesce(group_concat(r, '|'), '') FROM "
            f"(SELECT {row} AS r FROM navigation_items ORDER BY id))")


def version_clause() -> ColumnElement:
    """The navigation's fingerprint, to select in a statement a page runs anyway (the session
    loader's) and pass to items_for_role."""
    return _Fingerprint()


@dataclass
class _Cached:
    version: str
    items: tuple  # every active item whose link exists, in order (rows with _ITEM_COLUMNS)
    by_role: dict[str, list[NavEntry]]


_ITEM_COLUMNS = (NavigationItem.id, NavigationItem.label, NavigationItem.icon, NavigationItem.link,
                 NavigationItem.parent_id, NavigationItem.requires_role, NavigationItem.type)


def _read_items() -> _Cached | None:
    """The active, available items and the fingerprint of the table they were read from (one
    statement, so the two agree); None when there are no items at all (nothing to key a copy by)."""
    rows = db.session.execute(
        select(*_ITEM_COLUMNS, NavigationItem.is_active, version_clause())
        .order_by(NavigationItem.position, NavigationItem.id)
    ).all()
    if not rows:
        return None
    items = tuple(row for row in rows if row.is_active and is_link_available(row))
    return _Cached(rows[0][-1], items, {})


def items_for_role(role: str | None, version: str | None = None) -> list[NavEntry]:
    """The active items this role may see, in order, as a two-level tree. With the navigation's
    fingerprint as read at the start of this request (`version`), a copy this process keeps for it
    answers without a query; otherwise one query, whose result is kept for the next request. An
    admin's edit changes the fingerprint, so every process reads the items again."""
    if role is None:
        return []
    cached = current_app.extensions.get(_CACHE_KEY)
    if cached is None or version is None or cached.version != version:
        cached = _read_items()
        if cached is None:
            return []
        current_app.extensions[_CACHE_KEY] = cached
    entries = cached.by_role.get(role)
    if entries is None:
        entries = cached.by_role[role] = _tree([item for item in cached.items
                                                 if role_at_least(role, item.requires_role)])
    return list(entries)


_CACHE_KEY = "studio.navigation"


def _tree(items) -> list[NavEntry]:
    """Items whose parent is visible go under it; the rest are top-level entries."""
    visible_ids = {item.id for item in items}
    children: dict[int, list[NavEntry]] = {}
    for item in items:
        if item.parent_id in visible_ids:
            children.setdefault(item.parent_id, []).append(NavEntry(item.label, item.icon, item.link, item.type))
    return [
        NavEntry(item.label, item.icon, item.link, item.type, tuple(children.get(item.id, ())))
        for item in items
        if item.parent_id not in visible_ids
    ]


def all_items() -> list[NavigationItem]:
    return list(db.session.scalars(select(NavigationItem).order_by(NavigationItem.position, NavigationItem.id)))


def get_item(item_id: int) -> NavigationItem:
    item = db.session.get(NavigationItem, item_id)
    if item is None:
        raise NotFound("That navigation item does not exist.")
    return item


def _validated_link(link: str | None, item_type: str) -> str | None:
    if item_type != "link":
        return None
    if not link or not link.startswith("/") or link.startswith("//") or "\\" in link:
        raise ValidationFailed("A link must be a path on this site, starting with a single /.")
    return link


def create_item(actor, *, label, icon, link, requires_role, item_type, origin: Origin) -> NavigationItem:
    """Add an item at the end of the list."""
    last_position = db.session.scalar(select(func.max(NavigationItem.position))) or 0
    item = NavigationItem(
        label=label, icon=icon or None, link=_validated_link(link, item_type),
        requires_role=requires_role or None, type=item_type, position=last_position + 10, is_active=True,
    )
    db.session.add(item)
    db.session.flush()
    record_audit(actor.id, "navigation_item", item.id, "create", after=item.snapshot(),
                 ip_address=origin.ip_address, user_agent=origin.user_agent)
    db.session.commit()
    return item


def update_item(actor, item_id: int, *, label, icon, link, requires_role, item_type, origin: Origin) -> NavigationItem:
    item = get_item(item_id)
    before = item.snapshot()
    item.label, item.icon, item.type = label, icon or None, item_type
    item.link = _validated_link(link, item_type)
    item.requires_role = requires_role or None
    record_audit(actor.id, "navigation_item", item.id, "update", before=before, after=item.snapshot(),
                 ip_address=origin.ip_address, user_agent=origin.user_agent)
    db.session.commit()
    return item


def set_visibility(actor, item_id: int, is_active: bool, origin: Origin) -> NavigationItem:
    item = get_item(item_id)
    before = item.snapshot()
    item.is_active = is_active
    record_audit(actor.id, "navigation_item", item.id, "show" if is_active else "hide", before=before,
                 after=item.snapshot(), ip_address=origin.ip_address, user_agent=origin.user_agent)
    db.session.commit()
    return item


def move_item(actor, item_id: int, direction: str, origin: Origin) -> None:
    """Swap an item with its neighbour above or below; positions are renumbered in steps of 10."""
    items = all_items()
    index = next((i for i, it in enumerate(items) if it.id == item_id), None)
    if index is None:
        raise NotFound("That navigation item does not exist.")
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(items):
        return
    before = [it.id for it in items]
    items[index], items[other] = items[other], items[index]
    for position, it in enumerate(items, start=1):
        it.position = position * 10
    record_audit(actor.id, "navigation_item", item_id, f"move_{direction}", before={"order": before},
                 after={"order": [it.id for it in items]}, ip_address=origin.ip_address, user_agent=origin.user_agent)
    db.session.commit()
