"""Where a request came from, passed from views to services (which never read the request)."""
from __future__ import annotations

from dataclasses import dataclass

from flask import request


@dataclass(frozen=True)
class Origin:
    ip_address: str | None
    user_agent: str | None


def request_origin() -> Origin:
    """The client's IP (ProxyFix applies when proxies are trusted) and user agent."""
    return Origin(request.remote_addr, (request.user_agent.string or "")[:512] or None)
