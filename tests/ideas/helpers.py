"""Checks shared by the ideas tests: XSS payloads and a parser that finds live markup."""
from __future__ import annotations

from html.parser import HTMLParser

XSS_PAYLOADS = [
    "<script>alert('x1')</script>",
    "<img src=x onerror=alert('x2')>",
    "\"><svg onload=alert('x3')>",
    "[click me](javascript:alert('x4'))",
    "<a href=\"javascript:alert('x5')\">link</a>",
    "{{ 7*7 }}<iframe src=//evil.example></iframe>",
    "<div hx-get=\"/ideas\" hx-trigger=\"load\">htmx</div>",
]


class _MarkupCollector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def live_markup_problems(html: str) -> list[str]:
    """Everything in `html` that a browser would run or load from the payloads above."""
    collector = _MarkupCollector()
    collector.feed(html)
    problems = []
    for tag, attrs in collector.tags:
        if tag in {"svg", "img", "iframe", "object", "embed"}:
            problems.append(f"<{tag}>")
        if tag == "script" and "src" not in attrs:
            problems.append("inline <script>")
        for name, value in attrs.items():
            if name.startswith("on"):
                problems.append(f"{tag} {name}=")
            if name in {"href", "src", "action"} and (value or "").strip().lower().startswith("javascript:"):
                problems.append(f"{tag} {name}=javascript:")
            if name == "hx-trigger" and value == "load":
                problems.append("live hx-get from user text")
    return problems
