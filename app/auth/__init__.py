"""Accounts: registration, sign-in, server-side sessions, throttling."""
from flask import Blueprint

bp = Blueprint("auth", __name__)

from app.auth import oidc_routes, password_routes, routes, two_factor_routes, verification  # noqa: E402,F401
