"""Ideas board: submit, vote, discuss, triage."""
from flask import Blueprint

bp = Blueprint("ideas", __name__)

from app.ideas import routes  # noqa: E402,F401
from app.ideas.services import MAX_QUERY_CHARS  # noqa: E402


@bp.context_processor
def limits():
    """The input limits the ideas templates show as maxlength: the constants the forms and services enforce."""
    return {"limits": {"query": MAX_QUERY_CHARS}}
