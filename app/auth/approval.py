"""Accounts waiting for an admin's approval (STUDIO_SIGNUP_APPROVAL): they may sign in, but only to
a waiting page; every other route answers 403 until an admin approves them."""
from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user

from app.security.roles import login_required

bp = Blueprint("approval", __name__)

# What a waiting account may reach: the waiting page, signing out, and the static files.
OPEN_TO_WAITING = {"approval.waiting", "auth.logout", "static", "core.healthz", "core.readyz"}


@bp.before_app_request
def keep_waiting_accounts_out():
    """Refuse every route but the waiting page to an account that is not approved (403); the home
    page, where sign-in and sign-up lead, sends it to the waiting page instead."""
    if request.endpoint in OPEN_TO_WAITING or not current_user.is_authenticated:
        return None
    if not current_user.is_awaiting_approval:
        return None
    if request.endpoint == "core.index":
        return redirect(url_for("approval.waiting"))
    abort(403)


@bp.get("/waiting")
@login_required
def waiting():
    """The one page a waiting account sees."""
    if not current_user.is_awaiting_approval:
        return redirect(url_for("core.index"))
    return render_template("auth/waiting.html")
