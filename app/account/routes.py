"""Views for /account: one page built from the auth, chat and sharing services."""
from __future__ import annotations

import uuid

from flask import current_app, flash, redirect, render_template, url_for
from flask_login import current_user

from app.account import bp
from app.auth import services as auth_services
from app.auth.forms import PasswordChangeForm, ProfileForm
from app.chat import services as chat_services
from app.core.pages import is_htmx, render_page, toast_headers
from app.models.base import utcnow
from app.security.origin import request_origin
from app.security.roles import login_required
from app.sharing import services as sharing_services


def _account_context(profile_form=None, password_form=None):
    user = current_user._get_current_object()
    return {
        "profile_form": profile_form or ProfileForm(display_name=user.display_name, formdata=None),
        "password_form": password_form or PasswordChangeForm(formdata=None),
        "sessions": auth_services.list_active_sessions(user, current_app.config),
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
        auth_services.update_profile(current_user._get_current_object(), form.display_name.data, request_origin())
        if is_htmx():
            return render_template("account/_profile_form.html", profile_form=form, saved=True), 200, toast_headers("Display name saved.")
        flash("Display name saved.", "success")
        return redirect(url_for("account.account"), code=303)
    if is_htmx():
        return render_template("account/_profile_form.html", profile_form=form)
    return render_page("account/account.html", **_account_context(profile_form=form))


@bp.post("/account/password")
@login_required
def change_password():
    """Change the password; every other session is signed out."""
    form = PasswordChangeForm()
    if form.validate_on_submit():
        changed = auth_services.change_password(
            current_user._get_current_object(), form.current_password.data, form.new_password.data, request_origin()
        )
        if changed:
            flash("Password changed. Your other sessions were signed out.", "success")
            return redirect(url_for("account.account"), code=303)
        form.current_password.errors.append("The current password is not right.")
    return render_page("account/account.html", **_account_context(password_form=form))


@bp.post("/account/sessions/<uuid:session_id>/revoke")
@login_required
def revoke_session(session_id: uuid.UUID):
    """Sign out one browser of this account."""
    user = current_user._get_current_object()
    auth_services.revoke_session(user, session_id, request_origin())
    if is_htmx():
        return render_template("account/_sessions.html", **_account_context()), 200, toast_headers("Session signed out.")
    flash("Session signed out.", "success")
    return redirect(url_for("account.account"), code=303)


@bp.post("/account/sessions/revoke-others")
@login_required
def revoke_other_sessions():
    """Sign out every other browser of this account."""
    count = auth_services.revoke_other_sessions(current_user._get_current_object(), request_origin())
    message = f"Signed out {count} other session{'s' if count != 1 else ''}."
    if is_htmx():
        return render_template("account/_sessions.html", **_account_context()), 200, toast_headers(message)
    flash(message, "success")
    return redirect(url_for("account.account"), code=303)
