"""Share links (seed 003 `nexus_shares`): read-only snapshots of a conversation for anyone with the link."""
from flask import Blueprint

bp = Blueprint("sharing", __name__)

from app.sharing import routes  # noqa: E402,F401
