"""Views for /register, /login and /logout (the account page lives in app/account)."""
from __future__ import annotations

from flask import current_app, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from app.auth import bp, services
from app.auth.forms import LoginForm, RegisterForm
from app.core.pages import done, is_htmx
from app.errors import Conflict, Forbidden
from app.extensions import login_manager
from app.security import rate_limits
from app.security.origin import request_origin
from app.security.redirects import safe_next_path
from app.security.roles import acting_user, login_required


@login_manager.user_loader
def load_user(session_token: str):
    # A GET that may answer a full page also reads the navigation's fingerprint, in the same statement:
    # then the page's navigation costs no query of its own (not for fragments and event streams).
    may_show_page = (request.method == "GET" and not is_htmx()
                     and "text/event-stream" not in request.headers.get("Accept", ""))
    return services.load_session_user(session_token, current_app.config, with_navigation_version=may_show_page)


PASSWORD_LOGIN_OFF = "Passwords are turned off here: sign in with your organisation's account."


def _password_login_refused():
    """With STUDIO_PASSWORD_LOGIN off (single sign-on only), a password form sent anyway: 403."""
    if request.method == "POST" and not current_app.config["PASSWORD_LOGIN"]:
        raise Forbidden(PASSWORD_LOGIN_OFF)


def _sign_in_choices() -> dict:
    """What /login and /register offer: the password form, and the single sign-on button's label."""
    from app.auth import oidc

    config = current_app.config
    return {"password_login": config["PASSWORD_LOGIN"],
            "sso_label": config["OIDC_LABEL"] if oidc.is_configured(config) else None}


def _sign_in(user) -> None:
    # A fresh session: drops pre-login keys and rotates the CSRF token.
    session.clear()
    session.permanent = True
    login_user(user)


@bp.route("/register", methods=["GET", "POST"])
@rate_limits.registrations
def register():
    """Create an account; the first one becomes admin."""
    next_path = safe_next_path(request.args.get("next"))  # back to an invitation, say
    if current_user.is_authenticated:
        return redirect(next_path or url_for("core.index"))
    _password_login_refused()
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user, _token = services.register(
                form.email.data, form.display_name.data, form.password.data, request_origin()
            )
        except Conflict as error:
            form.email.errors.append(error.message)
        else:
            _sign_in(user)
            return done(f"Welcome to Studio, {user.display_name}.", next_path or url_for("core.index"), navigate=True)
    return render_template("auth/register.html", form=form, next_path=next_path, **_sign_in_choices())


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with e-mail and password, under throttling."""
    next_path = safe_next_path(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_path or url_for("core.index"))
    _password_login_refused()
    form = LoginForm()
    status = 200
    sso_refusal = session.pop("sso_refusal", None)  # set by oidc_routes after a refused single sign-on
    if sso_refusal and request.method == "GET":
        form.form_errors.append(sso_refusal)
    if form.validate_on_submit():
        try:
            user, token = services.log_in(
                form.email.data, form.password.data, request_origin(), current_app.config
            )
        except services.LoginRefused as refusal:
            form.form_errors.append(refusal.message)
            status = 429 if refusal.throttled else 200
        else:
            if token is None:
                from app.auth.two_factor_routes import start_challenge

                return start_challenge(user, next_path)
            _sign_in(user)
            return done(None, next_path or url_for("core.index"), navigate=True)
    return render_template("auth/login.html", form=form, next_path=next_path, **_sign_in_choices()), status


@bp.post("/logout")
@login_required
def logout():
    """End this session on the server and in the browser."""
    services.log_out(acting_user(), request_origin())
    logout_user()
    session.clear()
    return done("You are signed out.", url_for("auth.login"), navigate=True)

