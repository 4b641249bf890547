"""One place that decides between a full page and an htmx fragment, answers finished actions, and pages lists."""
from __future__ import annotations

import json
import re

from flask import flash, redirect, render_template, request
from htmx_flask import make_response

from app.extensions import db

# ASCII digits only: str.isdigit() also passes "²" and "١", which int() then refuses or reads.
_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")

SIDEBAR_CHANGED = {"sidebar-changed": True}  # the sidebar list reloads itself on this event


def is_htmx() -> bool:
    """True for an htmx request that expects a fragment (not boosted, not a history restore)."""
    htmx = request.htmx
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def htmx_target() -> str | None:
    """The id of the element an htmx fragment request will be swapped into; None for a page request."""
    return request.htmx.target if is_htmx() else None


def render_page(page_template: str, fragments: dict[str, str] | None = None, **context):
    """Render the full page, or for an htmx request aimed at a known target, just that fragment."""
    target = htmx_target()
    if target and fragments and target in fragments:
        return render_template(fragments[target], **context)
    return render_template(page_template, **context)


def toast_trigger(message: str | None, level: str = "success", events: dict | None = None,
                  link: tuple[str, str] | None = None) -> dict:
    """The HX-Trigger events that show a toast (when there is a message) and fire `events`; `link`
    (a same-site path, its text) adds a link after the message."""
    toast = {"toast": {"message": message, "level": level}} if message else {}
    if toast and link:
        toast["toast"]["link"] = {"href": link[0], "text": link[1]}
    return {**toast, **(events or {})}


def toast_headers(message: str, level: str = "success", events: dict | None = None,
                  link: tuple[str, str] | None = None) -> dict[str, str]:
    """HX-Trigger header that shows a toast (and fires `events`); JSON-encoded so user text cannot break out."""
    return {"HX-Trigger": json.dumps(toast_trigger(message, level, events, link))}


def done(message: str | None, location: str, fragment: str | None = None,
         events: dict | None = None, level: str = "success", navigate: bool = False):
    """The one answer to a finished action. htmx: `fragment` with 200 (or 204 without one), the toast
    and `events` in HX-Trigger. Otherwise: flash the message and 303 to `location` (a plain form POST).
    With `navigate`, htmx goes to `location` too (HX-Redirect) and the message is flashed for that page."""
    if is_htmx() and not navigate:
        body = ("", 204) if fragment is None else (fragment, 200)
        return make_response(*body, trigger=toast_trigger(message, level, events) or None)
    if message:
        flash(message, level)
    return htmx_redirect(location) if is_htmx() else redirect(location, code=303)


def htmx_redirect(location: str, message: str | None = None):
    """Tell htmx to navigate (a 302 would be followed by the XHR and swapped into the target)."""
    if message:
        flash(message, "success")
    return make_response("", 204, redirect=location)


def whole_number(text: str | None) -> int | None:
    """A whole number written in at most nine ASCII digits (blanks around allowed); None for anything else."""
    text = (text or "").strip()
    return int(text) if _WHOLE_NUMBER.fullmatch(text) else None


def page_number(name: str = "page", default: int = 1, maximum: int = 10_000) -> int:
    """The page number in query argument `name`, clamped to 1..maximum; `default` if it is not a number."""
    number = whole_number(request.args.get(name))
    return default if number is None else max(1, min(number, maximum))


def paginate(statement, page: int, size: int) -> tuple[list, bool]:
    """Page `page` (from 1) of a SELECT, `size` items, and whether more follow (one query: limit size+1).
    A statement of one entity or column gives its values, otherwise rows."""
    result = db.session.execute(statement.offset((max(page, 1) - 1) * size).limit(size + 1))
    # unique(): joined eager loads of collections repeat rows; ORM requires it and it is harmless otherwise.
    rows = list(result.scalars().unique() if len(statement.column_descriptions) == 1 else result.unique())
    return rows[:size], len(rows) > size
