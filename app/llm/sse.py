"""Reading Server-Sent Events from a provider's HTTP response, and turning HTTP failures into ProviderError."""
from __future__ import annotations

import json
from collections.abc import Iterator

import httpx

from app.llm.base import ProviderError


def iter_sse(lines: Iterator[str]) -> Iterator[tuple[str | None, str]]:
    """(event name, data) for each event; data lines are joined, comments skipped."""
    event, data = None, []
    for line in lines:
        if line == "":
            if data:
                yield event, "\n".join(data)
            event, data = None, []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
    if data:
        yield event, "\n".join(data)


def _provider_message(body: str) -> str:
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return ""
    if isinstance(error, dict):
        return str(error.get("message") or "")[:300]
    return str(error or "")[:300]


def raise_for_status(response: httpx.Response, provider: str) -> None:
    """Turn a non-2xx answer into a ProviderError a person can read (never echoing the key)."""
    if response.status_code < 400:
        return
    body = response.read().decode("utf-8", "replace")
    detail = _provider_message(body)
    suffix = f": {detail}" if detail else "."
    status = response.status_code
    if status in (401, 403):
        raise ProviderError(f"{provider} refused the API key ({status}). Ask an administrator to check it.",
                            code="auth", status_code=status)
    if status == 429:
        raise ProviderError(f"Rate limited by {provider} (429){suffix}", code="rate_limited", status_code=status)
    if status >= 500:
        raise ProviderError(f"{provider} had a server error ({status}){suffix}", code="server_error", status_code=status)
    raise ProviderError(f"{provider} refused the request ({status}){suffix}", code="bad_request", status_code=status)


def network_error(provider: str, error: Exception) -> ProviderError:
    if isinstance(error, httpx.TimeoutException):
        return ProviderError(f"{provider} did not answer in time.", code="network")
    if isinstance(error, (httpx.RemoteProtocolError, httpx.ReadError)):
        return ProviderError(f"The {provider} stream ended before the answer was complete.", code="stream_cut")
    return ProviderError(f"Could not reach {provider}: {type(error).__name__}.", code="network")
