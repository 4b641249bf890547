"""Views for folders under /chat/folders."""
from app.folders import bp  # noqa: F401
