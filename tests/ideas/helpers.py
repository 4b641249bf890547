"""XSS payloads for the ideas tests (tests.helpers.markup.live_markup checks the pages)."""
from __future__ import annotations

XSS_PAYLOADS = [
    "<script>alert('x1')</script>",
    "<img src=x onerror=alert('x2')>",
    "\"><svg onload=alert('x3')>",
    "[click me](javascript:alert('x4'))",
    "<a href=\"javascript:alert('x5')\">link</a>",
    "{{ 7*7 }}<iframe src=//evil.example></iframe>",
    "<div hx-get=\"/ideas\" hx-trigger=\"load\">htmx</div>",
]
