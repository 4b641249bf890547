"""Views for single sign-on: /login/oidc sends the browser to the provider, /login/oidc/callback
signs in the account it comes back with (or shows why not on /login)."""
from __future__ import annotations

from flask import abort, current_app, redirect, request, session, url_for
from flask_login import current_user

from app.auth import bp, oidc
from app.extensions import limiter
from app.security import rate_limits
from app.security.origin import request_origin
from app.security.redirects import safe_next_path

NEXT_KEY = "sso_next"
REFUSAL_KEY = "sso_refusal"  # the message /login shows after a refused single sign-on
# Each start and each answer reaches the provider and writes an auth event: bounded per address.
SSO_RATE = "30 per minute"


def _require_configured() -> None:
    if not oidc.is_configured(current_app.config):
        abort(404)


def _back_to_login(refusal: oidc.SsoRefused):
    session[REFUSAL_KEY] = refusal.message
    return redirect(url_for("auth.login"), code=303)


@bp.get("/login/oidc")
@limiter.limit(SSO_RATE, key_func=rate_limits.address)
def oidc_start():
    """Send the browser to the provider's sign-in page."""
    _require_configured()
    next_path = safe_next_path(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_path or url_for("core.index"))
    session[NEXT_KEY] = next_path
    try:
        return oidc.authorization_redirect(url_for("auth.oidc_callback", _external=True), request_origin())
    except oidc.SsoRefused as refusal:
        return _back_to_login(refusal)


@bp.get("/login/oidc/callback")
@limiter.limit(SSO_RATE, key_func=rate_limits.address)
def oidc_callback():
    """Sign in the account the provider answered for, after checking everything it sent."""
    _require_configured()
    if current_user.is_authenticated:
        return redirect(url_for("core.index"))
    next_path = safe_next_path(session.get(NEXT_KEY))
    try:
        user, token = oidc.complete_sign_in(request.args.to_dict(), request_origin(), current_app.config)
    except oidc.SsoRefused as refusal:
        return _back_to_login(refusal)
    if token is None:
        from app.auth.two_factor_routes import start_challenge

        return start_challenge(user, next_path)
    from app.auth.routes import _sign_in

    _sign_in(user)
    return redirect(next_path or url_for("core.index"), code=303)
