"""Single sign-on through an OpenID Connect provider (STUDIO_OIDC_*), with Authlib's Flask client:
discovery from the issuer, the authorization code flow with PKCE (S256), `state` and `nonce` checked,
the ID token verified (issuer, audience, expiry, signature from the provider's JWKS), and what a
verified sign-in does to accounts: find by (issuer, subject), link by a verified e-mail, or create.

Every sign-in through the provider, accepted or refused, is an `auth_events` row ("sso_login")."""
from __future__ import annotations

import logging
import re
import secrets

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import OAuth
from email_validator import EmailNotValidError, validate_email
from flask import current_app, session
from joserfc.errors import JoseError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.auth import services
from app.auth.models import User
from app.auth.oidc_models import UserIdentity
from app.errors import Conflict, DomainError
from app.extensions import db
from app.models.base import utcnow
from app.security.audit import record_audit
from app.security.origin import Origin

log = logging.getLogger(__name__)

EVENT = "sso_login"
CLIENT_NAME = "oidc"
HTTP_TIMEOUT_SECONDS = 10
# Signatures Studio accepts on an ID token: public-key ones only (never "none", never a shared secret).
SPENT_STATE = "That sign-in link has expired or was used already. Sign in again."
OAUTH_ERROR_CODE = re.compile(r"[a-z_]{1,50}")  # RFC 6749 error codes; anything else is not shown
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")


class SsoRefused(DomainError):
    """A single sign-on that did not sign anyone in; `message` is for the person, `reason` for the log."""

    status = 200  # shown on the sign-in page

    def __init__(self, message: str, reason: str, user_id=None):
        super().__init__(message)
        self.reason, self.user_id = reason, user_id


def is_configured(config) -> bool:
    """Whether single sign-on is set up (an issuer and a client id)."""
    return bool(config["OIDC_ISSUER"] and config["OIDC_CLIENT_ID"])


def _label() -> str:
    return current_app.config["OIDC_LABEL"]


def _client():
    """This app's Authlib client for the configured provider: one per setting values, so its discovery
    document and keys are fetched once (again when the provider signs with a key Studio has not seen)."""
    config = current_app.config
    key = (config["OIDC_ISSUER"], config["OIDC_CLIENT_ID"], config["OIDC_CLIENT_SECRET"], config["OIDC_SCOPES"])
    clients = current_app.extensions.setdefault("studio_oidc", {})
    if key not in clients:
        oauth = OAuth(current_app)
        clients[key] = oauth.register(
            CLIENT_NAME,
            client_id=config["OIDC_CLIENT_ID"],
            client_secret=config["OIDC_CLIENT_SECRET"] or None,
            server_metadata_url=f"{config['OIDC_ISSUER']}/.well-known/openid-configuration",
            client_kwargs={"scope": config["OIDC_SCOPES"], "code_challenge_method": "S256",
                           "default_timeout": HTTP_TIMEOUT_SECONDS},
        )
    return clients[key]


def _checked_metadata(client) -> dict:
    """The provider's discovery document, refused unless it names the configured issuer; the ID token
    algorithms it offers are narrowed to public-key signatures."""
    metadata = client.load_server_metadata()
    issuer = str(metadata.get("issuer", ""))
    if issuer.rstrip("/") != current_app.config["OIDC_ISSUER"]:
        # Drop it, so a corrected provider is read again instead of this document being kept.
        client.server_metadata.pop("_loaded_at", None)
        raise SsoRefused(f"{_label()} is not set up correctly: its discovery document names another issuer.",
                         "issuer_mismatch")
    offered = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
    metadata["id_token_signing_alg_values_supported"] = [alg for alg in offered if alg in SIGNING_ALGORITHMS]
    return metadata


def authorization_redirect(redirect_uri: str, origin: Origin):
    """The redirect to the provider's sign-in page (state, nonce and the PKCE verifier kept in the
    session); raises SsoRefused (recorded) when the provider cannot be reached."""
    client = _client()
    try:
        _checked_metadata(client)
        return client.authorize_redirect(redirect_uri)
    except SsoRefused as refusal:
        raise _recorded(refusal, None, origin) from None
    except (requests.RequestException, ValueError) as error:
        log.warning("Single sign-on: the provider's discovery document could not be read: %s", error)
        raise _recorded(SsoRefused(f"{_label()} cannot be reached right now. Try again in a moment.",
                                   "provider_unreachable"), None, origin) from None


def _provider_claims(client, query: dict) -> dict:
    """Finish the flow the provider sent the browser back from: check its answer and `state`, trade
    the code (with the PKCE verifier) for tokens, verify the ID token and its `nonce`, and add the
    userinfo claims (whose subject must be the ID token's). Raises SsoRefused."""
    label = _label()
    if query.get("error"):
        # Believed only with this browser's state: anyone can link to the callback with an error.
        state = str(query.get("state") or "")
        if not state or client.framework.get_state_data(session, state) is None:
            raise SsoRefused(SPENT_STATE, "state_mismatch")
        client.framework.clear_state_data(session, state)
        error = str(query["error"])
        error = error if OAUTH_ERROR_CODE.fullmatch(error) else "error"
        log.info("Single sign-on: the provider answered %s (%s)", error, str(query.get("error_description"))[:200])
        message = (f"{label} did not sign you in (access was denied)." if error == "access_denied"
                   else f"{label} did not sign you in ({error}).")
        raise SsoRefused(message, f"provider_error:{error}")
    if "iss" in query and str(query["iss"]).rstrip("/") != current_app.config["OIDC_ISSUER"]:
        raise SsoRefused(f"That answer did not come from {label}. Sign in again.", "wrong_issuer_in_response")
    try:
        metadata = _checked_metadata(client)
        token = client.authorize_access_token(
            claims_options={"iss": {"essential": True, "values": [metadata["issuer"]]},
                            "aud": {"essential": True, "values": [client.client_id]},
                            "sub": {"essential": True}, "exp": {"essential": True}})
        if not isinstance(token.get("userinfo"), dict):
            raise SsoRefused(f"{label} did not send an ID token. Sign in again.", "no_id_token")
        claims = dict(token["userinfo"])
        if metadata.get("userinfo_endpoint"):
            userinfo = dict(client.userinfo(token=token))
            if userinfo.get("sub") != claims["sub"]:
                raise SsoRefused(f"{label} sent details of another account. Sign in again.", "userinfo_subject")
            claims = {**userinfo, **claims}
    except MismatchingStateError:
        raise SsoRefused(SPENT_STATE, "state_mismatch") from None
    except OAuthError as error:
        log.warning("Single sign-on: the provider refused the code: %s", error)
        code = error.error if OAUTH_ERROR_CODE.fullmatch(str(error.error)) else "error"
        raise SsoRefused(f"{label} did not sign you in ({code}). Sign in again.", f"provider_error:{code}") from None
    except (JoseError, AuthlibBaseError) as error:
        log.warning("Single sign-on: an ID token was refused: %r", error)
        raise SsoRefused(f"The answer from {label} could not be verified. Sign in again.", "bad_token") from None
    except (requests.RequestException, ValueError) as error:
        log.warning("Single sign-on: the provider could not be reached: %s", error)
        raise SsoRefused(f"{label} cannot be reached right now. Try again in a moment.",
                         "provider_unreachable") from None
    return claims


def complete_sign_in(query: dict, origin: Origin, config) -> tuple[User, str | None]:
    """Check the provider's answer and sign its account in: returns the user and a new session token
    (None when the account uses two-factor sign-in: the code comes next). Raises SsoRefused, recorded."""
    try:
        claims = _provider_claims(_client(), query)
    except SsoRefused as refusal:
        raise _recorded(refusal, None, origin) from None
    except Exception:  # a provider's odd answer is a refusal, never a 500
        log.exception("Single sign-on failed unexpectedly")
        db.session.rollback()
        raise _recorded(SsoRefused(f"Sign-in with {_label()} failed. Try again.", "unexpected_error"),
                        None, origin) from None
    identifier = _identifier(claims)
    try:
        user = _account_for(claims, origin, config)
    except SsoRefused as refusal:
        db.session.rollback()  # nothing of a refused first sign-in is kept
        raise _recorded(refusal, identifier, origin) from None
    services._record_event(user.id, EVENT, identifier, origin, success=True)
    if services._needs_second_factor(user):
        db.session.commit()
        return user, None
    user.last_login_at = utcnow()
    token = services._start_session(user, origin)
    db.session.commit()
    return user, token


def _recorded(refusal: SsoRefused, identifier: str | None, origin: Origin) -> SsoRefused:
    """Write the refusal as an auth event (in its own transaction); returns it to be raised."""
    services._record_event(refusal.user_id, EVENT, identifier, origin, success=False, reason=refusal.reason[:80])
    db.session.commit()
    return refusal


def _identifier(claims: dict) -> str:
    """What the event log shows for the person: their e-mail, else the provider's subject."""
    return str(claims.get("email") or f"sub:{claims.get('sub')}")[:254]


def _is_verified(claims: dict) -> bool:
    # Some providers send the boolean as a string.
    return claims.get("email_verified") in (True, "true")


def _email_of(claims: dict) -> str:
    """The e-mail address the provider sent, normalised; SsoRefused when there is none usable."""
    email = claims.get("email")
    if not isinstance(email, str) or len(email) > 254:
        raise SsoRefused(f"{_label()} did not share your e-mail address, which Studio needs. "
                         "Ask your administrator to release the e-mail claim to Studio.", "no_email")
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        raise SsoRefused(f"{_label()} sent an e-mail address Studio cannot use.", "bad_email") from None
    return services.normalize_email(email)


def _display_name(claims: dict, email: str) -> str:
    for key in ("name", "preferred_username", "given_name"):
        value = claims.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:100]
    return email.split("@")[0][:100]


def _account_for(claims: dict, origin: Origin, config) -> User:
    """The account the provider's person signs in as: the one linked to (issuer, subject); else, on
    a first sign-in, the account with the same e-mail when the provider has verified it; else a new
    account. Roles follow the groups claim when group names are configured."""
    issuer, subject = config["OIDC_ISSUER"], str(claims["sub"])[:255]
    identity = db.session.scalar(
        select(UserIdentity).where(UserIdentity.issuer == issuer, UserIdentity.subject == subject))
    if identity is not None:
        user = db.session.get(User, identity.user_id)
        if not user.is_active_account:
            raise SsoRefused("This account is deactivated. Ask an administrator.", "deactivated", user.id)
        identity.last_login_at = utcnow()
        if isinstance(claims.get("email"), str):
            identity.email = claims["email"][:254]
    else:
        user = _link_or_create(claims, issuer, subject, origin, config)
    _apply_group_role(user, claims, origin, config)
    return user


def _link_or_create(claims: dict, issuer: str, subject: str, origin: Origin, config) -> User:
    """A first sign-in: link the account with the same (verified) e-mail, or create one."""
    email = _email_of(claims)
    verified = _is_verified(claims)
    user = services.get_user_by_email(email)
    if user is not None and not verified:
        raise SsoRefused(
            f"An account with {email} already exists, and {_label()} has not confirmed that this address is "
            "yours, so the two are not joined. Sign in with your password, or ask your administrator.",
            "unverified_email", user.id)
    if user is not None and not user.is_active_account:
        raise SsoRefused("This account is deactivated. Ask an administrator.", "deactivated", user.id)
    if user is None:
        user = _create_account(email, _display_name(claims, email), verified)
        action = "sso_created"
    else:
        action = "sso_linked"
    db.session.add(UserIdentity(user_id=user.id, issuer=issuer, subject=subject, email=email,
                                last_login_at=utcnow()))
    try:
        db.session.flush()
    except IntegrityError:  # the same person's first sign-in, twice at once
        raise SsoRefused("Another sign-in of this account was under way. Sign in again.", "concurrent") from None
    record_audit(user.id, "user", user.id, action, after={"issuer": issuer, "subject": subject},
                 ip_address=origin.ip_address, user_agent=origin.user_agent)
    return user


def _create_account(email: str, display_name: str, is_verified: bool) -> User:
    """A new account as a sign-up makes it (the first is admin; pending under sign-up approval), with a
    random password nobody knows. An address the provider has not verified is confirmed by mail when
    STUDIO_EMAIL_VERIFICATION is on."""
    from app.auth import verification

    try:
        user = services.create_user(email, display_name, secrets.token_urlsafe(32))
    except Conflict:
        raise SsoRefused("Another sign-in of this account was under way. Sign in again.", "concurrent") from None
    if not is_verified:
        verification.start(user)
    return user


def _role_from_groups(claims: dict, config) -> str | None:
    """The role the groups claim gives, or None when no group is configured or the provider sent no groups."""
    admin_group, moderator_group = config["OIDC_ADMIN_GROUP"], config["OIDC_MODERATOR_GROUP"]
    groups = claims.get("groups")
    if not (admin_group or moderator_group) or groups is None:
        return None
    groups = [groups] if isinstance(groups, str) else groups
    if not isinstance(groups, list):
        return None
    if admin_group and admin_group in groups:
        return "admin"
    if moderator_group and moderator_group in groups:
        return "moderator"
    return "user"


def _apply_group_role(user: User, claims: dict, origin: Origin, config) -> None:
    """Give the account the role its groups say (never taking admin from the last active admin). An
    admin or moderator by group needs no sign-up approval: the organisation has vouched for them."""
    role = _role_from_groups(claims, config)
    if role is None or role == user.role and not (role != "user" and user.approval_status == "pending"):
        return
    if user.role == "admin" and role != "admin" and _is_last_admin(user):
        log.warning("Single sign-on: %s left the admin group but stays admin (the last one)", user.email)
        return
    before = {"role": user.role, "approval_status": user.approval_status}
    user.role = role
    if role != "user" and user.approval_status == "pending":
        user.approval_status = "approved"
    record_audit(None, "user", user.id, "sso_role", before=before,
                 after={"role": user.role, "approval_status": user.approval_status},
                 ip_address=origin.ip_address, user_agent=origin.user_agent)


def _is_last_admin(user: User) -> bool:
    others = db.session.scalar(select(func.count(User.id)).where(
        User.role == "admin", User.is_active_account.is_(True), User.id != user.id))
    return not others
