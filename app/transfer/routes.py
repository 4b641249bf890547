"""Views for exporting and importing conversations."""
from app.transfer import bp  # noqa: F401
