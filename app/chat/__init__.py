"""Chat: conversations with LLMs, streamed answers, usage and cost."""
from flask import Blueprint

bp = Blueprint("chat", __name__, url_prefix="/chat")

from app.chat import routes  # noqa: E402,F401
