"""Views for share links: POST /chat/<id>/share, the owner's panel, revoke and update, the public
/s/<token> page and "continue this conversation"."""
from __future__ import annotations

import uuid

from flask import render_template, request, url_for

from app.chat import services as chat_services
from app.core.pages import done, is_htmx
from app.errors import NotFound, ValidationFailed
from app.models.base import utcnow
from app.security.roles import acting_user, login_required
from app.sharing import bp, services

# The token must never travel to another site; same-origin (not no-referrer) so that the
# "continue" form, which posts back here, passes Flask-WTF's same-origin Referer check on HTTPS.
# no-store: a revoked link must not live on in a browser's or proxy's cache.
SHARED_PAGE_HEADERS = {"X-Robots-Tag": "noindex, nofollow", "Referrer-Policy": "same-origin",
                       "Cache-Control": "no-store"}


def _panel(conversation, new_share=None) -> str:
    return render_template("sharing/_share_panel.html", conversation=conversation, new_share=new_share,
                           shares=services.shares_of_conversation(acting_user(), conversation), now=utcnow())


@bp.get("/chat/<uuid:conversation_id>/shares")
@login_required
def panel(conversation_id: uuid.UUID):
    """The share panel of a conversation: create a link, see, copy, update and revoke existing ones."""
    return _panel(chat_services.get_conversation_for(acting_user(), conversation_id))


@bp.post("/chat/<uuid:conversation_id>/share")
@login_required
def create(conversation_id: uuid.UUID):
    """Create a share link with the chosen expiry."""
    conversation = chat_services.get_conversation_for(acting_user(), conversation_id)
    share = services.create_share(acting_user(), conversation, request.form.get("expiry", ""))
    location = url_for("chat.show", conversation_id=conversation.id)
    if not is_htmx():  # no panel to show the new link in: the message carries it
        return done(f"Share link created: {url_for('sharing.shared', token=share.share_token, _external=True)}",
                    location)
    return done("Share link created. Copy it and send it to anyone.", location,
                fragment=_panel(conversation, new_share=share))


def _after_change(share, message: str):
    """The changed link as the whole panel (asked from the panel) or its row (the account page); a
    plain form goes back where it came from (same site only)."""
    fragment = None
    if is_htmx():
        conversation = chat_services.get_conversation_for(acting_user(), share.conversation_id)
        fragment = (_panel(conversation) if request.form.get("from") == "panel" else render_template(
            "sharing/_share_row.html", now=utcnow(), row=services.ShareRow(share, conversation.title)))
    referrer = request.referrer
    return done(message, referrer if referrer and referrer.startswith(request.host_url) else url_for("account.account"),
                fragment=fragment)


@bp.post("/shares/<uuid:share_id>/revoke")
@login_required
def revoke(share_id: uuid.UUID):
    """Revoke a link: from now on it answers 404 like a link that never existed."""
    share = services.get_share_for(acting_user(), share_id)
    services.revoke_share(acting_user(), share)
    return _after_change(share, "Link revoked.")


@bp.post("/shares/<uuid:share_id>/update")
@login_required
def update(share_id: uuid.UUID):
    """Move the link's snapshot forward to the conversation as it is now."""
    share = services.get_share_for(acting_user(), share_id)
    if share.revoked_at is not None:
        raise ValidationFailed("A revoked link cannot be updated; create a new one.")
    services.update_snapshot(acting_user(), share)
    return _after_change(share, "The link now shows the conversation as it is now.")


def _gone():
    """Every missing share looks the same, whatever the reason (unknown, expired, revoked)."""
    return render_template("errors/error.html", status=404, title="Not found", message=services.GONE), 404, {
        "X-Robots-Tag": "noindex, nofollow", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


@bp.get("/s/<token>")
def shared(token: str):
    """The public, read-only snapshot: no sidebar, no composer, nothing about the owner."""
    try:
        share = services.live_share(token)
    except NotFound:
        return _gone()
    services.count_view(share)
    conversation = chat_services.get_conversation_by_id(share.conversation_id)
    messages = services.snapshot_messages(share)
    html = render_template("sharing/shared.html", share=share, conversation=conversation, messages=messages,
                           model_names=sorted({m.model.name for m in messages if m.model}))
    return html, 200, SHARED_PAGE_HEADERS


@bp.post("/s/<token>/continue")
@login_required
def continue_conversation(token: str):
    """Copy the snapshot into the signed-in visitor's own chats."""
    try:
        share = services.live_share(token)
    except NotFound:
        return _gone()
    conversation = services.continue_in_own_chats(acting_user(), share)
    return done("A copy of the conversation is now in your chats. Carry on!",
                url_for("chat.show", conversation_id=conversation.id))

