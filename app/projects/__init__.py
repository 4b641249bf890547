"""Projects: uploaded files, validation runs (schema, sheriff, gauntlet), findings, checkpoints."""
from flask import Blueprint

bp = Blueprint("projects", __name__)

from app.projects import routes, services  # noqa: E402,F401
from app.projects.models import MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, MAX_NOTES_CHARS  # noqa: E402


@bp.context_processor
def limits():
    """The input limits the projects templates show as maxlength: the constants the services enforce."""
    return {"limits": {"name": MAX_NAME_CHARS, "description": MAX_DESCRIPTION_CHARS, "notes": MAX_NOTES_CHARS}}
