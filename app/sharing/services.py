"""Share links: snapshots of a conversation readable by anyone holding an unguessable token."""
from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from app.chat import services as chat_services
from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.models.base import utcnow
from app.sharing.models import Share

if TYPE_CHECKING:  # annotations only: conversations and messages come from chat.services
    from app.chat.models import Conversation, Message

EXPIRY_CHOICES = {"1d": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30), "never": None}
MAX_SHARED_MESSAGES = 2000
# Expired, revoked and unknown tokens all get this same answer.
GONE = "This shared conversation does not exist, has expired, or was revoked."


def new_share_token() -> str:
    """192 random bits, URL-safe (32 characters)."""
    return secrets.token_urlsafe(24)


def create_share(user, conversation: Conversation, expiry: str) -> Share:
    """A new link showing the conversation as it is now (an answer still being written is left out)."""
    if expiry not in EXPIRY_CHOICES:
        raise ValidationFailed("Choose how long the link lives: 1 day, 7 days, 30 days or never.")
    now = utcnow()
    lifetime = EXPIRY_CHOICES[expiry]
    share = Share(conversation_id=conversation.id, user_id=user.id, share_token=new_share_token(),
                  snapshot_message_id=chat_services.last_finished_message_id(conversation), snapshot_at=now,
                  expires_at=now + lifetime if lifetime else None)
    db.session.add(share)
    db.session.commit()
    return share


def get_share_for(user, share_id: uuid.UUID) -> Share:
    """The user's own share; anybody else's answers NotFound."""
    share = db.session.get(Share, share_id)
    if share is None or share.user_id != user.id:
        raise NotFound("There is no such share link.")
    return share


def shares_of_conversation(user, conversation: Conversation) -> list[Share]:
    return list(db.session.scalars(select(Share).where(
        Share.conversation_id == conversation.id, Share.user_id == user.id).order_by(Share.created_at.desc())))


@dataclass
class ShareRow:
    share: Share
    conversation_title: str


def shares_of_user(user, limit: int = 100) -> list[ShareRow]:
    """The user's links with their conversation titles, newest first (two queries)."""
    shares = list(db.session.scalars(
        select(Share).where(Share.user_id == user.id).order_by(Share.created_at.desc()).limit(limit)))
    titles = chat_services.titles_of([share.conversation_id for share in shares])
    return [ShareRow(share, titles[share.conversation_id]) for share in shares if share.conversation_id in titles]


def revoke_share(user, share: Share) -> None:
    if share.revoked_at is None:
        share.revoked_at = utcnow()
    db.session.commit()


def update_snapshot(user, share: Share) -> None:
    """Move the snapshot forward to the conversation as it is now."""
    conversation = chat_services.get_conversation_for(user, share.conversation_id)
    share.snapshot_message_id = chat_services.last_finished_message_id(conversation)
    share.snapshot_at = utcnow()
    db.session.commit()


def live_share(token: str) -> Share:
    """The share behind a token, if it is neither expired nor revoked; otherwise NotFound (always GONE)."""
    if not token or len(token) > 64 or "\x00" in token:  # PostgreSQL refuses NUL in text
        raise NotFound(GONE)
    share = db.session.scalar(select(Share).where(Share.share_token == token))
    if share is None or not share.is_live(utcnow()):
        raise NotFound(GONE)
    return share


def snapshot_messages(share: Share) -> list[Message]:
    """The messages as they were when the snapshot was taken, oldest first."""
    return chat_services.messages_as_of(share.conversation_id, share.snapshot_message_id, MAX_SHARED_MESSAGES)


def count_view(share: Share) -> None:
    db.session.execute(update(Share).where(Share.id == share.id).values(view_count=Share.view_count + 1))
    db.session.commit()


def continue_in_own_chats(user, share: Share) -> Conversation:
    """Copy the snapshot into the visitor's own conversations (never into anyone else's folder)."""
    source = chat_services.get_conversation_by_id(share.conversation_id)
    messages = [chat_services.ImportedMessage(role=m.role, content=m.content, created_at=m.created_at,
                                              model_name=m.model.name if m.model else None)
                for m in snapshot_messages(share)]
    conversation = chat_services.continue_conversation(user, source, messages)
    db.session.commit()
    return conversation
