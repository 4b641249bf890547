"""The second step of sign-in (/login/two-factor) and sending people whose role requires two-factor
sign-in to enrolment before anything else."""
from __future__ import annotations

import time
import uuid

from flask import current_app, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from app.auth import bp, two_factor
from app.core.forms import strip_text
from app.core.pages import done, htmx_redirect, is_htmx
from app.security.origin import request_origin

PENDING_KEY = "two_factor_pending"
# Where someone who must enrol may still go.
ENROLMENT_ENDPOINTS = {"account.two_factor", "account.two_factor_setup", "account.two_factor_confirm",
                       "auth.logout", "static"}


class CodeForm(FlaskForm):
    code = StringField("Code from your authenticator app, or a recovery code", filters=[strip_text],
                       validators=[DataRequired(), Length(max=32)])


def start_challenge(user, next_path: str | None):
    """After a right password: remember who is signing in (for CHALLENGE_SECONDS) and ask for the code."""
    session.clear()
    session[PENDING_KEY] = {"user_id": str(user.id), "started_at": int(time.time()), "next": next_path}
    return done(None, url_for("auth.two_factor_challenge"), navigate=True)


def _pending_user_id() -> uuid.UUID | None:
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict) or time.time() - pending.get("started_at", 0) > two_factor.CHALLENGE_SECONDS:
        return None
    try:
        return uuid.UUID(pending.get("user_id", ""))
    except ValueError:
        return None


@bp.route("/login/two-factor", methods=["GET", "POST"])
def two_factor_challenge():
    """Ask for the TOTP (or a recovery code) of a sign-in whose password was right."""
    user_id = _pending_user_id()
    if user_id is None:
        session.pop(PENDING_KEY, None)
        return redirect(url_for("auth.login"))
    form = CodeForm()
    status = 200
    if form.validate_on_submit():
        try:
            user, _token = two_factor.complete_sign_in(user_id, form.code.data, request_origin(),
                                                       current_app.config)
        except two_factor.CodeRefused as refusal:
            form.code.errors.append(refusal.message)
            status = 429 if refusal.throttled else 200
        else:
            next_path = session[PENDING_KEY].get("next")
            session.clear()
            session.permanent = True
            login_user(user)
            return done(None, next_path or url_for("core.index"), navigate=True)
    return render_template("auth/two_factor.html", form=form), status


@bp.before_app_request
def send_to_enrolment():
    """Someone whose role requires two-factor sign-in and who has not set it up sees only enrolment."""
    if request.path.startswith("/api/") or request.endpoint in ENROLMENT_ENDPOINTS or request.endpoint is None:
        return None
    if not current_user.is_authenticated or not _must_enrol(current_user):
        return None
    location = url_for("account.two_factor")
    return htmx_redirect(location) if is_htmx() else redirect(location, code=303)


def _must_enrol(user) -> bool:
    """As read with the session at the start of this request (services.load_session_user), else asked."""
    known = getattr(user, "must_enrol_two_factor", None)
    return two_factor.must_enrol(user) if known is None else known
