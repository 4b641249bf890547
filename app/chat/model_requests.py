"""Provider calls: one row per call to a model, with its timing, tokens and cost.

Chat writes these rows (answers and titles); the model registry reads the failed ones."""
from __future__ import annotations

from sqlalchemy import select

from app.chat.models import ModelRequest
from app.extensions import db

RECENT_FAILURES = 10


def recent_failures(model_id: int, limit: int = RECENT_FAILURES) -> list[ModelRequest]:
    """The model's latest failed calls, newest first, with the provider's own words: for admins only,
    as users are shown a generic sentence."""
    return list(db.session.scalars(
        select(ModelRequest).where(ModelRequest.ai_model_id == model_id, ModelRequest.status == "error")
        .order_by(ModelRequest.requested_at.desc()).limit(limit)))
