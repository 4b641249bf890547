"""TOTP secrets at rest: sealed with Fernet (AES-128-CBC + HMAC-SHA256, the `cryptography` package)
under a key derived with HKDF from SECRET_KEY, or from the secrets in TOTP_ENCRYPTION_KEYS (newest
first: the first seals, every one opens, so an old key can stay while secrets move to the new one).

A stored value is either `v1:<Fernet token>` or, from before encryption, the bare base32 secret
(only A-Z, 2-7 and `=`, so it can never start with `v1:`). Anything else opens under no key."""
from __future__ import annotations

import base64
import functools
import re
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

PREFIX = "v1:"
_PURPOSE = b"studio.totp-secret.v1"
_LEGACY_PLAIN = re.compile(r"[A-Z2-7]+=*")


class SecretUnreadable(Exception):
    """A stored secret that no configured key opens (the key changed, or the value is damaged)."""


@dataclass(frozen=True)
class Opened:
    secret: str  # base32, as authenticator apps take it
    is_current: bool  # sealed under the key that seals now; False: plain text or an older key


def _key_material() -> tuple[str, ...]:
    """The secrets keys are derived from, newest first."""
    listed = current_app.config.get("TOTP_ENCRYPTION_KEYS") or ()
    if isinstance(listed, str):  # set as one string (a config file) rather than read by build_config
        listed = listed.split(",")
    listed = tuple(value.strip() for value in listed if value.strip())
    if listed:
        return listed
    secret = current_app.config["SECRET_KEY"]
    return (secret.decode() if isinstance(secret, bytes) else secret,)


@functools.lru_cache(maxsize=8)
def _fernets(material: tuple[str, ...]) -> tuple[Fernet, MultiFernet]:
    """The sealing Fernet and one that opens under every key (derived once per set of keys)."""
    keys = [Fernet(base64.urlsafe_b64encode(
        HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(value.encode())))
        for value in material]
    return keys[0], MultiFernet(keys)


def seal(secret: str) -> str:
    """What is stored for `secret`: `v1:` and a Fernet token under the current key."""
    current, _all = _fernets(_key_material())
    return PREFIX + current.encrypt(secret.encode()).decode("ascii")


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)


def open_secret(stored: str) -> Opened:
    """The secret of a stored value, and whether it should be sealed again (SecretUnreadable if no key
    opens it)."""
    if not is_sealed(stored):
        if _LEGACY_PLAIN.fullmatch(stored or ""):
            return Opened(stored, is_current=False)
        raise SecretUnreadable("not a sealed secret nor a base32 one")
    token = stored[len(PREFIX):].encode("ascii", "replace")
    current, every = _fernets(_key_material())
    try:
        return Opened(current.decrypt(token).decode(), is_current=True)
    except InvalidToken:
        pass
    try:
        return Opened(every.decrypt(token).decode(), is_current=False)
    except InvalidToken as error:
        raise SecretUnreadable("no configured key opens it") from error
