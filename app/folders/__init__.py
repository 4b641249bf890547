"""Folders of conversations (seed 003 `nexus_folders`): nested, coloured, ordered, collapsible."""
from flask import Blueprint

bp = Blueprint("folders", __name__, url_prefix="/chat/folders")

from app.folders import routes  # noqa: E402,F401
