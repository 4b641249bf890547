"""Validation of `next` so a sign-in link can never redirect off the site."""
from __future__ import annotations

import re

from flask import current_app
from werkzeug.exceptions import HTTPException

_UNSAFE_CHARACTERS = re.compile(r"[\\\x00-\x20\x7f]")


def safe_next_path(candidate: str | None) -> str | None:
    """Return `candidate` if it is a path on this site that a route serves, else None."""
    if not candidate or len(candidate) > 2000:
        return None
    if not candidate.startswith("/") or candidate.startswith("//"):
        return None
    if _UNSAFE_CHARACTERS.search(candidate) or "%2f" in candidate[:4].lower():
        return None
    path = candidate.split("?", 1)[0].split("#", 1)[0]
    adapter = current_app.url_map.bind("localhost")
    try:
        adapter.match(path, method="GET")
    except HTTPException:
        return None
    return candidate
