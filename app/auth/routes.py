"""Views for /register, /login, /logout and /account."""
from __future__ import annotations

import uuid

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from app.auth import bp, services
from app.auth.forms import LoginForm, PasswordChangeForm, ProfileForm, RegisterForm
from app.chat import services as chat_services
from app.core.pages import htmx_redirect, is_htmx, render_page, toast_headers
from app.errors import Conflict
from app.extensions import login_manager
from app.models.base import utcnow
from app.security import rate_limits
from app.security.origin import request_origin
from app.security.redirects import safe_next_path
from app.security.roles import login_required
from app.sharing import services as sharing_services


@login_manager.user_loader
def load_user(session_token: str):
    return services.load_session_user(session_token, current_app.config)


def _sign_in(user) -> None:
    # A fresh session: drops pre-login keys and rotates the CSRF token.
    session.clear()
    session.permanent = True
    login_user(user)


@bp.route("/register", methods=["GET", "POST"])
@rate_limits.registrations
def register():
    """Create an account; the first one becomes admin."""
    if current_user.is_authenticated:
        return redirect(url_for("core.index"))
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
            flash(f"Welcome to Studio, {user.display_name}.", "success")
            return redirect(url_for("core.index"), code=303)
    return render_template("auth/register.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with e-mail and password, under throttling."""
    next_path = safe_next_path(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_path or url_for("core.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user, _token = services.log_in(
                form.email.data, form.password.data, request_origin(), current_app.config
            )
        except services.LoginRefused as refusal:
            form.form_errors.append(refusal.message)
            status = 429 if refusal.throttled else 200
        else:
            _sign_in(user)
            return redirect(next_path or url_for("core.index"), code=303)
    return render_template("auth/login.html", form=form, next_path=next_path), status


@bp.post("/logout")
@login_required
def logout():
    """End this session on the server and in the browser."""
    services.log_out(current_user._get_current_object(), request_origin())
    logout_user()
    session.clear()
    flash("You are signed out.", "success")
    if is_htmx():
        return htmx_redirect(url_for("auth.login"))
    return redirect(url_for("auth.login"), code=303)


def _account_context(profile_form=None, password_form=None):
    user = current_user._get_current_object()
    return {
        "profile_form": profile_form or ProfileForm(display_name=user.display_name, formdata=None),
        "password_form": password_form or PasswordChangeForm(formdata=None),
        "sessions": services.list_active_sessions(user, current_app.config),
        "current_session_id": user.current_session.id if user.current_session else None,
        "usage": chat_services.usage_this_month(user),
        "share_rows": sharing_services.shares_of_user(user),
        "now": utcnow(),
    }


@bp.route("/account", methods=["GET"])
@login_required
def account():
    """Profile, password and active sessions."""
    return render_page("account/account.html", **_account_context())


@bp.post("/account/profile")
@login_required
def update_profile():
    """Save the display name (only that: extra fields are ignored)."""
    form = ProfileForm()
    if form.validate_on_submit():
        services.update_profile(current_user._get_current_object(), form.display_name.data, request_origin())
        if is_htmx():
            return render_template("account/_profile_form.html", profile_form=form, saved=True), 200, toast_headers("Display name saved.")
        flash("Display name saved.", "success")
        return redirect(url_for("auth.account"), code=303)
    if is_htmx():
        return render_template("account/_profile_form.html", profile_form=form)
    return render_page("account/account.html", **_account_context(profile_form=form))


@bp.post("/account/password")
@login_required
def change_password():
    """Change the password; every other session is signed out."""
    form = PasswordChangeForm()
    if form.validate_on_submit():
        changed = services.change_password(
            current_user._get_current_object(), form.current_password.data, form.new_password.data, request_origin()
        )
        if changed:
            flash("Password changed. Your other sessions were signed out.", "success")
            return redirect(url_for("auth.account"), code=303)
        form.current_password.errors.append("The current password is not right.")
    return render_page("account/account.html", **_account_context(password_form=form))


@bp.post("/account/sessions/<uuid:session_id>/revoke")
@login_required
def revoke_session(session_id: uuid.UUID):
    """Sign out one browser of this account."""
    user = current_user._get_current_object()
    services.revoke_session(user, session_id, request_origin())
    if is_htmx():
        return render_template("account/_sessions.html", **_account_context()), 200, toast_headers("Session signed out.")
    flash("Session signed out.", "success")
    return redirect(url_for("auth.account"), code=303)


@bp.post("/account/sessions/revoke-others")
@login_required
def revoke_other_sessions():
    """Sign out every other browser of this account."""
    count = services.revoke_other_sessions(current_user._get_current_object(), request_origin())
    message = f"Signed out {count} other session{'s' if count != 1 else ''}."
    if is_htmx():
        return render_template("account/_sessions.html", **_account_context()), 200, toast_headers(message)
    flash(message, "success")
    return redirect(url_for("auth.account"), code=303)
