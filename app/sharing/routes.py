"""Views for share links: POST /chat/<id>/share, /s/<token>, POST /shares/<id>/revoke."""
from app.sharing import bp  # noqa: F401
