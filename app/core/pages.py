"""One place that decides between a full page and an htmx fragment, and sends toasts."""
from __future__ import annotations

import json

from flask import flash, render_template, request


def is_htmx() -> bool:
    """True for an htmx request that expects a fragment (not boosted, not a history restore)."""
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-Boosted") != "true"
        and headers.get("HX-History-Restore-Request") != "true"
    )


def htmx_target() -> str | None:
    return request.headers.get("HX-Target") if is_htmx() else None


def render_page(page_template: str, fragments: dict[str, str] | None = None, **context):
    """Render the full page, or for an htmx request aimed at a known target, just that fragment."""
    target = htmx_target()
    if target and fragments and target in fragments:
        return render_template(fragments[target], **context)
    return render_template(page_template, **context)


def toast_headers(message: str, level: str = "success", events: dict | None = None) -> dict[str, str]:
    """HX-Trigger header that shows a toast (and fires `events`); JSON-encoded so user text cannot break out."""
    return {"HX-Trigger": json.dumps({"toast": {"message": message, "level": level}, **(events or {})})}


def htmx_redirect(location: str, message: str | None = None):
    """Tell htmx to navigate (a 302 would be followed by the XHR and swapped into the target)."""
    if message:
        flash(message, "success")
    return "", 204, {"HX-Redirect": location}
