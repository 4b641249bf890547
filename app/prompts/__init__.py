"""Prompt library: prompts with {{variables}}, tags, moderation, use in chat."""
from flask import Blueprint

bp = Blueprint("prompts", __name__)

from app.prompts import routes  # noqa: E402,F401
from app.prompts.services import MAX_QUERY_CHARS, MAX_REASON_CHARS  # noqa: E402


@bp.context_processor
def limits():
    """The input limits the prompt templates show as maxlength: the constants the forms and services enforce."""
    return {"limits": {"query": MAX_QUERY_CHARS, "reason": MAX_REASON_CHARS}}
