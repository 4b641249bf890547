"""What a registry row may point at: which environment variables may hold a model's key, and which
base URLs may be called. The same rules are checked in the form and again when a call is made, so a
row written before a rule existed cannot send a secret anywhere either."""
from __future__ import annotations

from collections.abc import Iterable

from app.llm.addresses import RefusedAddress, check_url

KEY_VARIABLE_SUFFIX = "_API_KEY"
# Studio's own secrets: never sent to a model, even when an operator lists them.
NEVER_KEY_VARIABLES = frozenset({"SECRET_KEY", "DATABASE_URL"})
NEVER_KEY_PREFIX = "STUDIO_"


def key_variable_refusal(name: str, extra_allowed: Iterable[str] = ()) -> str | None:
    """Why `name` may not hold a model's key, or None when it may: it must end in _API_KEY or be
    listed in STUDIO_MODEL_KEY_VARIABLES, and never be one of Studio's own settings."""
    if name in NEVER_KEY_VARIABLES or name.startswith(NEVER_KEY_PREFIX):
        return f"{name} holds one of Studio's own settings and can never be sent to a model."
    if name.endswith(KEY_VARIABLE_SUFFIX) or name in set(extra_allowed):
        return None
    return (f"{name} is not allowed: a model's key must come from a variable ending in {KEY_VARIABLE_SUFFIX} "
            "or listed in STUDIO_MODEL_KEY_VARIABLES.")


def base_url_refusal(url: str, *, allow_private: bool) -> str | None:
    """Why `url` may not be a model's base URL, or None when it may (its host is resolved now)."""
    try:
        check_url(url, allow_private=allow_private)
    except RefusedAddress as refusal:
        return f"This address is not allowed: {refusal}."
    return None
