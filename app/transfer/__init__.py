"""Export conversations (Markdown, JSON) and import them (ChatGPT's conversations.json, Studio's JSON)."""
from flask import Blueprint

bp = Blueprint("transfer", __name__)

from app.transfer import jobs, routes  # noqa: E402,F401
