"""Reviewing thumbs-down answers: newest first, by model, marked reviewed with notes (audited)."""
from __future__ import annotations

import uuid

from sqlalchemy import func, select

from app.auth.models import User
from app.chat.models import FeedbackItem, Message, ModelRequest
from app.core.pages import paginate
from app.errors import NotFound
from app.extensions import db
from app.models.base import utcnow
from app.security.audit import record_audit
from app.security.origin import Origin

FEEDBACK_PAGE_SIZE = 30
NOTES_MAX_LENGTH = 2000
ANSWER_EXCERPT = 300


def thumbs_down(page: int, model: str | None = None, status: str | None = None):
    """A page of (feedback, model name, author e-mail, start of the answer) for thumbs-down answers,
    newest first."""
    statement = (
        select(FeedbackItem, ModelRequest.model_name, User.email, func.substr(Message.content, 1, ANSWER_EXCERPT))
        .outerjoin(ModelRequest, ModelRequest.id == FeedbackItem.model_request_id)
        .outerjoin(Message, Message.id == FeedbackItem.message_id)
        .outerjoin(User, User.id == FeedbackItem.user_id)
        .where(FeedbackItem.category == "down")
        .order_by(FeedbackItem.created_at.desc(), FeedbackItem.id.desc())
    )
    if model:
        statement = statement.where(ModelRequest.model_name == model[:200])
    if status in {"new", "reviewed"}:
        statement = statement.where(FeedbackItem.status == status)
    rows, has_more = paginate(statement, page, FEEDBACK_PAGE_SIZE)
    return [tuple(row) for row in rows], has_more


def unreviewed_count() -> int:
    """Thumbs-down not reviewed yet."""
    return db.session.scalar(select(func.count(FeedbackItem.id)).where(
        FeedbackItem.category == "down", FeedbackItem.status == "new")) or 0


def models_with_feedback() -> list[str]:
    """Model names that received a thumbs-down, for the filter."""
    return list(db.session.scalars(
        select(ModelRequest.model_name).join(FeedbackItem, FeedbackItem.model_request_id == ModelRequest.id)
        .where(FeedbackItem.category == "down").distinct().order_by(ModelRequest.model_name).limit(200)))


def get_feedback(feedback_id: uuid.UUID) -> FeedbackItem:
    """One feedback item, or NotFound."""
    item = db.session.get(FeedbackItem, feedback_id)
    if item is None:
        raise NotFound("That feedback does not exist.")
    return item


def mark_reviewed(actor: User, feedback_id: uuid.UUID, notes: str, origin: Origin) -> FeedbackItem:
    """Mark a feedback item reviewed by `actor` now, with resolution notes (a second review replaces them)."""
    item = get_feedback(feedback_id)
    before = {"status": item.status, "resolution_notes": item.resolution_notes}
    item.status, item.reviewed_by, item.reviewed_at = "reviewed", actor.id, utcnow()
    item.resolution_notes = notes[:NOTES_MAX_LENGTH] or None
    record_audit(actor.id, "feedback", item.id, "review", before=before,
                 after={"status": item.status, "resolution_notes": item.resolution_notes},
                 ip_address=origin.ip_address, user_agent=origin.user_agent)
    db.session.commit()
    return item
