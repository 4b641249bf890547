"""Chat: conversations with LLMs, streamed answers, usage and cost."""
from flask import Blueprint

bp = Blueprint("chat", __name__, url_prefix="/chat")

from app.chat import routes  # noqa: E402,F401
from app.chat.live import live_view  # noqa: E402
from app.chat.search import MAX_QUERY_CHARS  # noqa: E402
from app.chat.services import MAX_FEEDBACK_CHARS, MAX_MESSAGE_CHARS  # noqa: E402


@bp.context_processor
def live_answer():
    """`live_answer(message)`: a streaming answer's finished blocks as HTML and its unfinished rest (live.py)."""
    return {"live_answer": lambda message: live_view(message.content)}


@bp.context_processor
def limits():
    """The input limits chat's templates show as maxlength: the constants the forms and services enforce."""
    return {"limits": {"message": MAX_MESSAGE_CHARS, "feedback": MAX_FEEDBACK_CHARS, "query": MAX_QUERY_CHARS}}
