"""Reading and editing the navigation."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select
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


def is_link_available(item: NavigationItem) -> bool:
    """A link whose page exists; pages of features not built yet stay out of the bar."""
    return item.type != "link" or (bool(item.link) and _route_exists(item.link))


def items_for_role(role: str | None) -> list[NavEntry]:
    """The active items this role may see, in order, as a two-level tree (one query)."""
    if role is None:
        return []
    items = [
        item
        for item in db.session.scalars(
            select(NavigationItem).where(NavigationItem.is_active.is_(True))
            .order_by(NavigationItem.position, NavigationItem.id)
        )
        if role_at_least(role, item.requires_role) and is_link_available(item)
    ]
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
