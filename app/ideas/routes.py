"""Views for /ideas."""
from app.ideas import bp  # noqa: F401
