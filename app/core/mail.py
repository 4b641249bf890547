"""E-mail: rendered in the request (plain text plus simple HTML), sent by the job runner ("send_mail").

A mail that carries a single-use link names a link maker instead of the link itself, so no secret
waits in the jobs table: the maker draws the token when the job runs and keeps only its hash."""
from __future__ import annotations

from collections.abc import Callable

from flask import current_app, render_template
from flask_mail import Message

from app.extensions import mail
from app.jobs import runner

# name → fn(payload) returning extra template context (a freshly drawn link); registered by domains.
LINK_MAKERS: dict[str, Callable[[dict], dict]] = {}


def is_configured() -> bool:
    """Whether a mail server is set (MAIL_SERVER); without one nothing is mailed."""
    return bool(current_app.config.get("MAIL_SERVER"))


def link_maker(name: str):
    """Decorator: `fn(payload)` makes the link a mail of that kind carries, when the mail is sent."""
    def decorate(fn):
        LINK_MAKERS[name] = fn
        return fn
    return decorate


def absolute_url(endpoint: str, **values) -> str:
    """STUDIO_BASE_URL plus the route's path: the address a link in a mail points at (no request needed)."""
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    return current_app.config["STUDIO_BASE_URL"].rstrip("/") + path


def queue_mail(to: str, subject: str, template: str, *, context: dict | None = None,
               link: str | None = None, link_payload: dict | None = None) -> None:
    """Add a mail to the current transaction (templates mail/<template>.txt and .html); the caller
    commits, then calls `runner.wake()`. Nothing is queued without a mail server."""
    if not is_configured():
        return
    runner.enqueue("send_mail", {"to": to, "subject": subject, "template": template, "context": context or {},
                                 "link": link, "link_payload": link_payload or {}}, max_attempts=5)


def render_mail(template: str, context: dict) -> tuple[str, str]:
    """The plain text and the HTML of a mail."""
    return render_template(f"mail/{template}.txt", **context), render_template(f"mail/{template}.html", **context)


@runner.register("send_mail")
def send_mail_job(context) -> dict:
    """Make the mail's link (if any), render it and hand it to the SMTP server."""
    payload = context.payload
    values = dict(payload.get("context") or {})
    if payload.get("link"):
        extra = LINK_MAKERS[payload["link"]](payload.get("link_payload") or {})
        if extra is None:  # the link is no longer wanted (its account was deactivated, say)
            return {"skipped": True}
        values.update(extra)
    text, html = render_mail(payload["template"], values)
    message = Message(subject=payload["subject"], recipients=[payload["to"]], body=text, html=html)
    mail.send(message)
    return {"sent": True}
