"""Views for /prompts and /moderation/prompts."""
from app.prompts import bp  # noqa: F401
