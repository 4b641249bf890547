"""A small real-HTTP client for tests: signs in like a browser and reads Server-Sent Events."""
from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

from tests.factories import PASSWORD


@dataclass
class ServerSentEvent:
    event: str
    data: str
    id: str | None


def signed_in_http_client(base_url: str, user, password: str = PASSWORD) -> httpx.Client:
    """An httpx client with the session cookie of `user`, and the page's CSRF token as a header."""
    client = httpx.Client(base_url=base_url, timeout=15)
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"email": user.email, "password": password, "csrf_token": token})
    assert response.status_code == 303, response.text[:300]
    account = client.get("/account").text
    client.headers["X-CSRFToken"] = re.search(r'"X-CSRFToken": "([^"]+)"', account).group(1)
    return client


def read_events(response: httpx.Response, limit: int | None = None, until: str | None = "done"):
    """Parse events from a streaming response: stop after `limit` events or the `until` event."""
    events: list[ServerSentEvent] = []
    fields: dict[str, list[str]] = {}
    # One line iterator per response, so reading can pause and go on.
    if not hasattr(response, "studio_lines"):
        response.studio_lines = response.iter_lines()
    for line in response.studio_lines:
        if line == "":
            if "event" in fields or "data" in fields:
                event = ServerSentEvent(fields.get("event", ["message"])[0], "\n".join(fields.get("data", [])),
                                        fields.get("id", [None])[0])
                events.append(event)
                if (limit and len(events) >= limit) or (until and event.event == until):
                    return events
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        fields.setdefault(name, []).append(value[1:] if value.startswith(" ") else value)
    return events
