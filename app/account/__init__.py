"""/account: profile, password, active sessions, usage this month and share links."""
from flask import Blueprint

bp = Blueprint("account", __name__)

from app.account import routes, two_factor_routes  # noqa: E402,F401
