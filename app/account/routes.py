"""Views for /account: one page built from the auth, chat and sharing services."""
from __future__ import annotations

import uuid

from flask import current_app, render_template, url_for

from app.account import bp, passwords
from app.auth import services as auth_services
from app.auth.forms import PasswordChangeForm, ProfileForm
from app.auth.routes import PASSWORD_LOGIN_OFF
from app.chat import services as chat_services
from app.core.pages import done, is_htmx, render_page
from app.errors import Forbidden
from app.models.base import utcnow
from app.security import rate_limits
from app.security.origin import request_origin
from app.security.roles import acting_user, login_required
from app.sharing import services as sharing_services

NO_PASSWORD_YET = ("This account has no password yet (single sign-on created it): set one through the link "
                   "/account offers to e-mail you.")
NO_MAIL = "This server cannot send mail: ask an administrator for a link to set your password."


def _sessions_context(user) -> dict:
    return {
        "sessions": auth_services.list_active_sessions(user, current_app.config),
        "current_session_id": user.current_session.id if user.current_session else None,
    }


def _account_context(profile_form=None, password_form=None) -> dict:
    user = acting_user()
    password_login = current_app.config["PASSWORD_LOGIN"]
    return {
        "profile_form": profile_form or ProfileForm(display_name=user.display_name, formdata=None),
        "password_form": password_form or PasswordChangeForm(formdata=None),
        "password_login": password_login,
        "has_own_password": password_login and passwords.has_own_password(user),
        "can_mail_link": password_login and passwords.can_mail_link(),
        **_sessions_context(user),
        "usage": chat_services.usage_this_month(user),
        "share_rows": sharing_services.shares_of_user(user),
        "now": utcnow(),
    }


@bp.route("/account", methods=["GET"])
@login_required
def account():
    """Profile, password, active sessions, usage this month and share links."""
    return render_page("account/account.html", **_account_context())


@bp.post("/account/profile")
@login_required
def update_profile():
    """Save the display name (only that: extra fields are ignored)."""
    form = ProfileForm()
    if form.validate_on_submit():
        auth_services.update_profile(acting_user(), form.display_name.data, request_origin())
        return done("Display name saved.", url_for("account.account"),
                    fragment=render_template("account/_profile_form.html", profile_form=form, saved=True))
    if is_htmx():
        return render_template("account/_profile_form.html", profile_form=form)
    return render_page("account/account.html", **_account_context(profile_form=form))


@bp.post("/account/password")
@login_required
def change_password():
    """Change the password; every other session is signed out."""
    if not current_app.config["PASSWORD_LOGIN"]:
        raise Forbidden(PASSWORD_LOGIN_OFF)
    if not passwords.has_own_password(acting_user()):
        raise Forbidden(NO_PASSWORD_YET)
    form = PasswordChangeForm()
    if form.validate_on_submit():
        if auth_services.change_password(acting_user(), form.current_password.data, form.new_password.data,
                                         request_origin()):
            return done("Password changed. Your other sessions were signed out.", url_for("account.account"))
        form.current_password.errors.append("The current password is not right.")
    return render_page("account/account.html", **_account_context(password_form=form))


@bp.post("/account/password/link")
@login_required
@rate_limits.password_resets
def mail_password_link():
    """Mail this account a link that sets its password: how an account single sign-on created gets one."""
    if not current_app.config["PASSWORD_LOGIN"]:
        raise Forbidden(PASSWORD_LOGIN_OFF)
    if not passwords.can_mail_link():
        raise Forbidden(NO_MAIL)
    user = acting_user()
    passwords.mail_set_password_link(user, request_origin())
    return done(f"We sent a link to {user.email}: open it within an hour to set your password.",
                url_for("account.account"))


def _sessions_changed(message: str):
    """htmx: the sessions list again with a toast; a plain form: back to the account page."""
    html = render_template("account/_sessions.html", **_sessions_context(acting_user())) if is_htmx() else None
    return done(message, url_for("account.account"), fragment=html)


@bp.post("/account/sessions/<uuid:session_id>/revoke")
@login_required
def revoke_session(session_id: uuid.UUID):
    """Sign out one browser of this account."""
    auth_services.revoke_session(acting_user(), session_id, request_origin())
    return _sessions_changed("Session signed out.")


@bp.post("/account/sessions/revoke-others")
@login_required
def revoke_other_sessions():
    """Sign out every other browser of this account."""
    count = auth_services.revoke_other_sessions(acting_user(), request_origin())
    return _sessions_changed(f"Signed out {count} other session{'s' if count != 1 else ''}.")
