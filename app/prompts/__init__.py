"""Prompt library: prompts with {{variables}}, tags, moderation, use in chat."""
from flask import Blueprint

bp = Blueprint("prompts", __name__)

from app.prompts import routes  # noqa: E402,F401
