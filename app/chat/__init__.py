"""Chat: conversations with LLMs, streamed answers, usage and cost."""
from flask import Blueprint

bp = Blueprint("chat", __name__, url_prefix="/chat")

from app.chat import routes  # noqa: E402,F401
from app.chat.search import MAX_QUERY_CHARS  # noqa: E402
from app.chat.services import MAX_FEEDBACK_CHARS, MAX_MESSAGE_CHARS  # noqa: E402


@bp.context_processor
def limits():
    """The input limits chat's templates show as maxlength: the constants the forms and services enforce."""
    return {"limits": {"message": MAX_MESSAGE_CHARS, "feedback": MAX_FEEDBACK_CHARS, "query": MAX_QUERY_CHARS}}
