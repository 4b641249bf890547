"""Ideas board: submit, vote, discuss, triage."""
from flask import Blueprint

bp = Blueprint("ideas", __name__)

from app.ideas import routes  # noqa: E402,F401
