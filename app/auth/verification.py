"""E-mail confirmation (STUDIO_EMAIL_VERIFICATION): a sign-up confirms its address by a mailed link
before it can chat; until then chat pages lead to /email/verify and chat actions answer 403."""
from __future__ import annotations

from datetime import timedelta

from flask import abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user

from app.auth import account_tokens, bp, services
from app.auth.models import User
from app.auth.password_reset import recent_events
from app.core import mail
from app.core.pages import done
from app.extensions import db
from app.jobs import runner
from app.security.audit import record_audit
from app.security.origin import request_origin
from app.security.roles import acting_user, login_required

GATED_BLUEPRINTS = ("chat",)


def start(user: User) -> bool:
    """Mark a new sign-up unconfirmed and queue its confirmation mail (part of the caller's transaction);
    True when it did (the caller wakes the job runner after committing)."""
    if not current_app.config["EMAIL_VERIFICATION"] or user.role == "admin":
        return False
    user.is_email_verified = False
    account_tokens.queue_link_mail(user, account_tokens.EMAIL_VERIFICATION, "Confirm your e-mail for Studio",
                                   "verify_email")
    return True


def needs_confirmation(user) -> bool:
    return bool(current_app.config["EMAIL_VERIFICATION"] and user.is_authenticated and not user.is_email_verified)


@bp.before_app_request
def keep_unconfirmed_accounts_from_chat():
    """Chat waits until the address is confirmed: pages lead to the confirmation page, actions get 403."""
    if request.blueprint not in GATED_BLUEPRINTS or not needs_confirmation(current_user):
        return None
    if request.method == "GET":
        return redirect(url_for("auth.email_unconfirmed"))
    abort(403)


@bp.get("/email/verify")
@login_required
def email_unconfirmed():
    """What an unconfirmed account sees instead of chat."""
    if not needs_confirmation(current_user):
        return redirect(url_for("core.index"))
    return render_template("auth/verify_email.html", can_mail=mail.is_configured())


@bp.post("/email/verify/resend")
@login_required
def resend_confirmation():
    """Mail a new confirmation link (at most three an hour)."""
    user = acting_user()
    if needs_confirmation(user) and recent_events(user.id, "verification_mail", timedelta(hours=1)) < 3:
        services._record_event(user.id, "verification_mail", user.email, request_origin(), success=True)
        account_tokens.queue_link_mail(user, account_tokens.EMAIL_VERIFICATION, "Confirm your e-mail for Studio",
                                       "verify_email")
        db.session.commit()
        runner.wake()
    return done("If a mail server is set, a new link is on its way.", url_for("auth.email_unconfirmed"),
                navigate=True)


@bp.route("/email/verify/<token>", methods=["GET", "POST"])
def verify_email(token: str):
    """Confirm an address: the link shows a button (a GET changes nothing), the button confirms."""
    row = account_tokens.find_valid(token, account_tokens.EMAIL_VERIFICATION)
    if row is None:
        return render_template("auth/verify_invalid.html"), 404
    if request.method == "POST":
        if not account_tokens.use(row):
            db.session.rollback()
            return render_template("auth/verify_invalid.html"), 404
        user = db.session.get(User, row.user_id)
        user.is_email_verified = True
        record_audit(user.id, "user", user.id, "confirm_email", ip_address=request_origin().ip_address)
        db.session.commit()
        return done("Your e-mail is confirmed.", url_for("core.index"), navigate=True)
    return render_template("auth/verify_confirm.html", token=token)
