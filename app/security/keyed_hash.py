"""A fast keyed hash for random secrets (API keys, recovery codes): HMAC-SHA256 under a key derived
from SECRET_KEY per purpose. Right for high-entropy values; passwords use argon2 instead."""
from __future__ import annotations

import hashlib
import hmac

from flask import current_app


def keyed_digest(purpose: str, value: str) -> str:
    """The hex HMAC-SHA256 of `value` under SECRET_KEY's key for `purpose` (a leaked table alone
    cannot be checked against guesses)."""
    secret = current_app.config["SECRET_KEY"]
    secret = secret.encode() if isinstance(secret, str) else secret
    key = hmac.new(secret, f"studio.{purpose}".encode(), hashlib.sha256).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
