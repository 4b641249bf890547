"""Views for /password/forgot and /password/reset/<token>."""
from __future__ import annotations

from flask import current_app, render_template, request, url_for
from flask_login import current_user

from app.auth import bp, password_reset
from app.auth.account_tokens import PASSWORD_RESET, find_valid
from app.auth.forms import ForgotPasswordForm, ResetPasswordForm
from app.auth.routes import PASSWORD_LOGIN_OFF
from app.core import mail
from app.core.pages import done
from app.errors import NotFound
from app.security import rate_limits
from app.security.origin import request_origin


@bp.before_app_request
def no_passwords_to_reset_when_they_are_off():
    """STUDIO_PASSWORD_LOGIN=off (single sign-on only): there is no password to forget or reset (404,
    saying so in the words the sign-in and account pages use)."""
    if request.endpoint in {"auth.forgot_password", "auth.reset_password"} and not current_app.config["PASSWORD_LOGIN"]:
        raise NotFound(PASSWORD_LOGIN_OFF)


@bp.route("/password/forgot", methods=["GET", "POST"])
@rate_limits.password_resets
def forgot_password():
    """Ask for a reset link by e-mail; the answer is the same whether the account exists."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        password_reset.request_reset(form.email.data, request_origin())
        return render_template("auth/forgot_sent.html", email=form.email.data)
    return render_template("auth/forgot.html", form=form, can_mail=mail.is_configured())


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    """Set a new password through a reset link; it works once, for an hour."""
    if find_valid(token, PASSWORD_RESET) is None:
        return render_template("auth/reset_invalid.html"), 404
    form = ResetPasswordForm()
    if form.validate_on_submit():
        keep = None
        if current_user.is_authenticated and current_user.current_session is not None:
            keep = current_user.current_session.id
        user = password_reset.reset_with_token(token, form.new_password.data, request_origin(), keep_session_id=keep)
        if user is None:
            return render_template("auth/reset_invalid.html"), 404
        if current_user.is_authenticated and current_user.id == user.id:
            return done("Your password is changed; your other sessions have ended.", url_for("account.account"),
                        navigate=True)
        return done("Your password is changed. Sign in with it.", url_for("auth.login"), navigate=True)
    return render_template("auth/reset.html", form=form, token=token)
