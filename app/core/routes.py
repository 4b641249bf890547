"""/, /healthz and /readyz."""
from flask import current_app, jsonify, redirect, url_for
from flask_login import current_user
from sqlalchemy import text

from app.core import bp
from app.extensions import db


@bp.route("/")
def index():
    """Signed in: the chat; otherwise the sign-in page."""
    if current_user.is_authenticated:
        return redirect(url_for("chat.new_chat") if "chat.new_chat" in _endpoints() else url_for("account.account"))
    return redirect(url_for("auth.login"))


def _endpoints():
    return current_app.view_functions


@bp.route("/healthz")
def healthz():
    """Liveness: the process answers."""
    return jsonify(status="ok")


@bp.route("/readyz")
def readyz():
    """Readiness: the database answers."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # any driver error means not ready
        db.session.rollback()
        return jsonify(status="unavailable", database="unreachable"), 503
    return jsonify(status="ok", database="ok")
