"""Who belongs to which organisation and with what role: shared organisations made by site admins,
invitations by single-use link, roles, removals and per-member monthly caps, and which organisations
a person may bill a conversation to.

Roles inside an organisation: owner and admin manage it (invite, change roles, set caps); members
bill conversations to it; viewers only look. Site admins may do everything. Every change is audited.

An invitation link carries 256 random bits (`secrets.token_urlsafe(32)`); only its keyed hash is
stored. A mailed link is drawn when the mail is sent (as account links are, app/auth/account_tokens),
so the jobs table never holds it; without a mail server the link is shown once to copy. Accepting
is one conditional UPDATE, so a link works once even when two people click it together."""
from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from app.billing import subscriptions
from app.billing.models import (
    MANAGING_ROLES,
    SENDING_ROLES,
    TENANT_ROLES,
    TenantAccount,
    TenantInvite,
    TenantMembership,
)
from app.core import mail
from app.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models.base import utcnow
from app.security.audit import record_audit
from app.security.keyed_hash import keyed_digest
from app.security.origin import Origin

INVITE_LIFETIME = timedelta(days=7)
MAX_NAME_CHARS = 128
MAX_EMAIL_CHARS = 254
MEMBERS_PAGE_SIZE = 50
ROLE_RANK = {"viewer": 1, "member": 2, "admin": 3, "owner": 4}
_EMAIL = re.compile(r"[^@\s\x00-\x1f]+@[^@\s\x00-\x1f]+\.[^@\s\x00-\x1f]+")


class InviteInvalid(DomainError):
    """The invitation link is unknown, expired, revoked or already used."""

    status = 404


class InviteForAnotherAddress(Forbidden):
    """The invitation names an e-mail address and the signed-in account has another one."""


def _audit(origin: Origin | None, actor_id, entity_type: str, entity_id, action: str, **changes) -> None:
    record_audit(actor_id, entity_type, entity_id, action, ip_address=origin.ip_address if origin else None,
                 user_agent=origin.user_agent if origin else None, **changes)


def _is_site_admin(user) -> bool:
    return getattr(user, "role", None) == "admin"


# --- reading ---------------------------------------------------------------------------------------

def get_organisation(tenant_id: uuid.UUID) -> TenantAccount:
    tenant = db.session.get(TenantAccount, tenant_id)
    if tenant is None:
        raise NotFound("There is no such organisation.")
    return tenant


def membership_of(user_id: uuid.UUID, tenant_id: uuid.UUID) -> TenantMembership | None:
    return db.session.scalar(select(TenantMembership).where(
        TenantMembership.user_id == user_id, TenantMembership.tenant_id == tenant_id))


def require_role(user, tenant_id: uuid.UUID, roles=TENANT_ROLES) -> TenantMembership:
    """The user's membership of the organisation when its role is one of `roles`: NotFound when they
    are not in it at all (like an organisation that does not exist), Forbidden when the role is too
    low. Site admins pass (a stand-in owner membership, not stored, when they are not members)."""
    tenant = db.session.get(TenantAccount, tenant_id) if tenant_id else None
    if tenant is None:
        raise NotFound("There is no such organisation.")
    membership = membership_of(user.id, tenant_id)
    if _is_site_admin(user):
        return membership or TenantMembership(user_id=user.id, tenant_id=tenant_id, role="owner")
    if membership is None:
        raise NotFound("There is no such organisation.")
    if membership.role not in roles:
        raise Forbidden("Your role in this organisation does not allow that.")
    return membership


def memberships_of(user) -> list[tuple[TenantAccount, TenantMembership]]:
    """Every organisation the user belongs to with their membership, the personal one first (made
    if missing), then by name: one query."""
    def read():
        return [tuple(row) for row in db.session.execute(
            select(TenantAccount, TenantMembership)
            .join(TenantMembership, TenantMembership.tenant_id == TenantAccount.id)
            .where(TenantMembership.user_id == user.id)
            .order_by(TenantAccount.personal_user_id.is_(None), TenantAccount.name, TenantAccount.id).limit(500))]
    rows = read()
    if not rows or not rows[0][0].is_personal:
        subscriptions.personal_organisation(user.id, user.email)
        rows = read()
    return rows


def organisations_of(user) -> list[tuple[TenantAccount, str]]:
    """Every organisation the user belongs to with their role, the personal one first (made if missing)."""
    return [(tenant, membership.role) for tenant, membership in memberships_of(user)]


def billable_organisations(user) -> list[tuple[TenantAccount, str]]:
    """The organisations the user may bill a conversation to (owner, admin or member), personal first."""
    return [(tenant, role) for tenant, role in organisations_of(user) if role in SENDING_ROLES]


def personal_tenant_id(user) -> uuid.UUID:
    return subscriptions.personal_organisation(user.id, user.email).id


def sending_membership(user, tenant_id: uuid.UUID | None) -> TenantMembership:
    """The user's membership of the organisation a conversation bills to: their personal one when
    none is named; a named one must be theirs to bill (NotFound when they are not in it, Forbidden
    for a viewer). Site admins too bill only where they are members."""
    if tenant_id is None:
        membership = db.session.scalar(select(TenantMembership).join(
            TenantAccount, TenantAccount.id == TenantMembership.tenant_id).where(
            TenantAccount.personal_user_id == user.id, TenantMembership.user_id == user.id))
        if membership is not None:
            return membership
        tenant_id = personal_tenant_id(user)  # made now, with its owner membership
    membership = membership_of(user.id, tenant_id)
    if membership is None:
        raise NotFound("You are not a member of that organisation: choose another one to bill this conversation to.")
    if membership.role not in SENDING_ROLES:
        raise Forbidden("Viewers cannot bill conversations to this organisation; ask one of its admins.")
    return membership


def bill_to(user, tenant_id: uuid.UUID | None) -> uuid.UUID:
    """The id of the organisation a conversation of `user` may bill to (see sending_membership)."""
    return sending_membership(user, tenant_id).tenant_id


def tenant_of_conversation(conversation) -> uuid.UUID:
    """The organisation a conversation bills to (its owner's personal one when none was chosen)."""
    if conversation.tenant_id is not None:
        return conversation.tenant_id
    return subscriptions.personal_organisation(conversation.user_id).id


def members_page(tenant_id: uuid.UUID, page: int) -> tuple[list[TenantMembership], bool]:
    """A page of the organisation's memberships with their users, owners first."""
    from sqlalchemy.orm import selectinload

    from app.core.pages import paginate
    order = func.coalesce(func.nullif(TenantMembership.role, "owner"), "")
    return paginate(select(TenantMembership).options(selectinload(TenantMembership.user))
                    .where(TenantMembership.tenant_id == tenant_id)
                    .order_by(order, TenantMembership.created_at, TenantMembership.id), page, MEMBERS_PAGE_SIZE)


def member_count(tenant_id: uuid.UUID) -> int:
    return db.session.scalar(select(func.count()).select_from(TenantMembership)
                             .where(TenantMembership.tenant_id == tenant_id)) or 0


def open_invites(tenant_id: uuid.UUID) -> list[TenantInvite]:
    """The organisation's invitations still usable, newest first."""
    return list(db.session.scalars(select(TenantInvite).where(
        TenantInvite.issuer_tenant_id == tenant_id, TenantInvite.status == "active",
        TenantInvite.expires_at > utcnow()).order_by(TenantInvite.created_at.desc()).limit(100)))


def shared_organisations_page(page: int) -> tuple[list[tuple[TenantAccount, int]], bool]:
    """Site admins' list: shared organisations with their member counts, newest first."""
    from app.core.pages import paginate
    count = (select(func.count()).select_from(TenantMembership)
             .where(TenantMembership.tenant_id == TenantAccount.id).scalar_subquery())
    return paginate(select(TenantAccount, count).where(TenantAccount.personal_user_id.is_(None))
                    .order_by(TenantAccount.created_at.desc(), TenantAccount.id.desc()), page, 50)


# --- shared organisations --------------------------------------------------------------------------

def _clean_name(name: str | None) -> str:
    name = " ".join((name or "").replace("\x00", "").split())
    if not 1 <= len(name) <= MAX_NAME_CHARS:
        raise ValidationFailed(f"An organisation needs a name of 1 to {MAX_NAME_CHARS} characters.")
    return name


def _slug(name: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "org"
    return f"{base}-{secrets.token_hex(4)}"


def create_organisation(admin, name: str, *, origin: Origin | None = None) -> TenantAccount:
    """A shared organisation (site admins only) with `admin` as its owner, on the default plan; audited."""
    if not _is_site_admin(admin):
        raise Forbidden("Only site admins create organisations.")
    name = _clean_name(name)
    tenant = TenantAccount(slug=_slug(name), name=name)
    db.session.add(tenant)
    db.session.flush()
    db.session.add(TenantMembership(user_id=admin.id, tenant_id=tenant.id, role="owner"))
    subscriptions.current_subscription(tenant.id)
    _audit(origin, admin.id, "tenant_account", tenant.id, "organisation_created", after={"name": name})
    _audit(origin, admin.id, "tenant_membership", tenant.id, "member_added",
                 after={"user_id": str(admin.id), "role": "owner"})
    db.session.commit()
    return tenant


# --- invitations -----------------------------------------------------------------------------------

def _digest(token: str) -> str:
    return keyed_digest("tenant_invite", token)


def _draw_token(invite: TenantInvite) -> str:
    token = secrets.token_urlsafe(32)
    invite.token_hash, invite.token_hint = _digest(token), token[:6]
    return token


def invite_link(token: str) -> str:
    return mail.absolute_url("organisations.accept_invite", token=token)


@dataclass
class InviteResult:
    invite: TenantInvite
    link: str | None  # shown once to copy when no mail server is configured; None when mailed


def _refuse_past_member_limit(tenant_id: uuid.UUID, adding: int = 1) -> None:
    from app.billing import limits
    limits.check_members(tenant_id, adding)


def _check_assignable(actor_membership: TenantMembership, role: str) -> None:
    if role not in TENANT_ROLES:
        raise ValidationFailed("Choose a role: owner, admin, member or viewer.")
    if role == "owner" and actor_membership.role != "owner":
        raise Forbidden("Only an owner can make someone an owner.")


def create_invite(actor, tenant_id: uuid.UUID, email: str, role: str, *,
                  origin: Origin | None = None) -> InviteResult:
    """Invite `email` into the organisation with `role` (owners and admins; only owners give
    ownership). Mailed when a mail server is set, else the link is returned to copy. Refused past
    the plan's member limit. Audited."""
    membership = require_role(actor, tenant_id, MANAGING_ROLES)
    tenant = get_organisation(tenant_id)
    if tenant.is_personal:
        raise Conflict("A personal organisation has no other members; create a shared one.")
    email = (email or "").strip().lower()
    if len(email) > MAX_EMAIL_CHARS or not _EMAIL.fullmatch(email):
        raise ValidationFailed("Enter the e-mail address to invite.")
    _check_assignable(membership, role)
    _refuse_past_member_limit(tenant_id)
    invite = TenantInvite(issuer_user_id=actor.id, issuer_tenant_id=tenant_id, invited_email=email, role=role,
                          status="active", max_redemptions=1, expires_at=utcnow() + INVITE_LIFETIME)
    token = _draw_token(invite)
    db.session.add(invite)
    db.session.flush()
    _audit(origin, actor.id, "tenant_invite", invite.id, "invite_created",
                 after={"tenant_id": str(tenant_id), "email": email, "role": role})
    link = None
    if mail.is_configured():
        # The mailed link is drawn anew when the mail goes out; the one drawn above is never shown.
        mail.queue_mail(email, f"You are invited to {tenant.name} on Studio", "organisation_invite",
                        context={"organisation": tenant.name, "role": role}, link="tenant_invite",
                        link_payload={"invite_id": str(invite.id)})
    else:
        link = invite_link(token)
    db.session.commit()
    if mail.is_configured():
        from app.jobs import runner
        runner.wake()
    return InviteResult(invite, link)


@mail.link_maker("tenant_invite")
def _draw_mailed_link(payload: dict) -> dict | None:
    """Draw the link of an invitation mail being sent (in the job); None when it is no longer open."""
    invite = db.session.get(TenantInvite, uuid.UUID(payload["invite_id"]))
    if invite is None or invite.status != "active" or invite.expires_at <= utcnow():
        return None
    token = _draw_token(invite)
    db.session.commit()
    return {"link": invite_link(token), "valid_days": INVITE_LIFETIME.days}


def invite_is_for(invite: TenantInvite, user) -> bool:
    """Whether `user` may accept: the invitation names no address, or theirs (in any letter case)."""
    return not invite.invited_email or invite.invited_email.casefold() == (user.email or "").casefold()


def find_invite(token: str) -> TenantInvite:
    """The open invitation a link names; InviteInvalid for anything else (unknown, used, revoked, expired)."""
    invite = None
    if token and len(token) <= 100:
        invite = db.session.scalar(select(TenantInvite).where(TenantInvite.token_hash == _digest(token)))
    if invite is None or invite.issuer_tenant_id is None:
        raise InviteInvalid("This invitation link is not valid. Ask the organisation's admin for a new one.")
    if invite.status == "redeemed":
        raise InviteInvalid("This invitation link has already been used. Ask the organisation's admin for a new one.")
    if invite.status == "revoked":
        raise InviteInvalid("This invitation was withdrawn. Ask the organisation's admin for a new one.")
    if invite.status != "active" or invite.expires_at is None or invite.expires_at <= utcnow():
        raise InviteInvalid("This invitation link has expired. Ask the organisation's admin for a new one.")
    return invite


def accept_invite(user, token: str, *, origin: Origin | None = None) -> TenantMembership:
    """Join the organisation a link invites to, with its role; the link is used up (once, even when
    clicked twice at the same moment). Someone already a member keeps their role and the link stays
    open. Only the account with the invited address may accept (InviteForAnotherAddress, 403, and the
    link stays usable): a forwarded or leaked link lets nobody else in. Refused past the plan's member
    limit. Audited."""
    invite = find_invite(token)
    if not invite_is_for(invite, user):
        raise InviteForAnotherAddress(
            f"This invitation is for {invite.invited_email}, and you are signed in as {user.email}. Sign out and "
            f"sign in (or create an account) with {invite.invited_email} to accept it, or ask the organisation's "
            "admin to invite your address.")
    tenant_id = invite.issuer_tenant_id
    existing = membership_of(user.id, tenant_id)
    if existing is not None:
        return existing
    _refuse_past_member_limit(tenant_id)
    now = utcnow()
    used = db.session.execute(update(TenantInvite).where(
        TenantInvite.id == invite.id, TenantInvite.status == "active", TenantInvite.expires_at > now).values(
        status="redeemed", redeemed_count=TenantInvite.redeemed_count + 1, last_redeemed_at=now,
        redeemed_by_id=user.id, updated_at=now).execution_options(synchronize_session=False))
    if used.rowcount != 1:
        db.session.rollback()
        raise InviteInvalid("This invitation link has already been used. Ask the organisation's admin for a new one.")
    membership = TenantMembership(user_id=user.id, tenant_id=tenant_id, role=invite.role)
    db.session.add(membership)
    try:
        db.session.flush()
    except IntegrityError:  # joined a moment ago through another link
        db.session.rollback()
        return membership_of(user.id, tenant_id)
    _audit(origin, user.id, "tenant_invite", invite.id, "invite_accepted", after={"tenant_id": str(tenant_id)})
    _audit(origin, user.id, "tenant_membership", membership.id, "member_added",
                 after={"tenant_id": str(tenant_id), "user_id": str(user.id), "role": invite.role})
    db.session.commit()
    return membership


def revoke_invite(actor, tenant_id: uuid.UUID, invite_id: uuid.UUID, *, origin: Origin | None = None) -> None:
    """Withdraw an open invitation (owners and admins); audited."""
    require_role(actor, tenant_id, MANAGING_ROLES)
    invite = db.session.get(TenantInvite, invite_id)
    if invite is None or invite.issuer_tenant_id != tenant_id:
        raise NotFound("There is no such invitation.")
    if invite.status == "active":
        invite.status, invite.revoked_at = "revoked", utcnow()
        _audit(origin, actor.id, "tenant_invite", invite.id, "invite_revoked", after={"tenant_id": str(tenant_id)})
    db.session.commit()


# --- members ---------------------------------------------------------------------------------------

def _member_in(tenant_id: uuid.UUID, membership_id: uuid.UUID) -> TenantMembership:
    membership = db.session.get(TenantMembership, membership_id)
    if membership is None or membership.tenant_id != tenant_id:
        raise NotFound("There is no such member.")
    return membership


def _owner_count(tenant_id: uuid.UUID) -> int:
    return db.session.scalar(select(func.count()).select_from(TenantMembership).where(
        TenantMembership.tenant_id == tenant_id, TenantMembership.role == "owner")) or 0


def _check_may_manage(actor_membership: TenantMembership, target: TenantMembership) -> None:
    if target.role == "owner" and actor_membership.role != "owner":
        raise Forbidden("Only an owner can change another owner.")


def change_role(actor, tenant_id: uuid.UUID, membership_id: uuid.UUID, role: str, *,
                origin: Origin | None = None) -> TenantMembership:
    """Give a member another role (owners and admins; owners only by owners); the last owner stays. Audited."""
    acting = require_role(actor, tenant_id, MANAGING_ROLES)
    target = _member_in(tenant_id, membership_id)
    _check_may_manage(acting, target)
    _check_assignable(acting, role)
    if get_organisation(tenant_id).is_personal:
        raise Conflict("The owner of a personal organisation stays its owner.")
    if target.role == "owner" and role != "owner" and _owner_count(tenant_id) <= 1:
        raise Conflict("An organisation needs an owner: make someone else owner first.")
    if target.role != role:
        _audit(origin, actor.id, "tenant_membership", target.id, "member_role_changed",
                     before={"role": target.role}, after={"role": role, "tenant_id": str(tenant_id)})
        target.role = role
    db.session.commit()
    return target


def remove_member(actor, tenant_id: uuid.UUID, membership_id: uuid.UUID, *, origin: Origin | None = None) -> None:
    """Take a member out (owners and admins; owners only by owners); the last owner stays. Audited.
    Their conversations billed here bill nowhere until they choose again (sending is refused)."""
    acting = require_role(actor, tenant_id, MANAGING_ROLES)
    target = _member_in(tenant_id, membership_id)
    _check_may_manage(acting, target)
    if get_organisation(tenant_id).is_personal:
        raise Conflict("The owner of a personal organisation cannot be removed.")
    if target.role == "owner" and _owner_count(tenant_id) <= 1:
        raise Conflict("An organisation needs an owner: make someone else owner first.")
    _audit(origin, actor.id, "tenant_membership", target.id, "member_removed",
                 before={"tenant_id": str(tenant_id), "user_id": str(target.user_id), "role": target.role})
    db.session.delete(target)
    db.session.commit()


def set_member_cap(actor, tenant_id: uuid.UUID, membership_id: uuid.UUID, *, monthly_tokens: int | None,
                   monthly_cost_micros: int | None, origin: Origin | None = None) -> TenantMembership:
    """Cap what one member may spend in the organisation per calendar month (None: no cap). Audited."""
    acting = require_role(actor, tenant_id, MANAGING_ROLES)
    target = _member_in(tenant_id, membership_id)
    _check_may_manage(acting, target)
    for value in (monthly_tokens, monthly_cost_micros):
        if value is not None and value < 0:
            raise ValidationFailed("A cap cannot be negative.")
    before = {"monthly_tokens": target.monthly_token_cap, "monthly_cost_micros": target.monthly_cost_cap_micros}
    after = {"monthly_tokens": monthly_tokens, "monthly_cost_micros": monthly_cost_micros}
    if before != after:
        _audit(origin, actor.id, "tenant_membership", target.id, "member_cap_changed", before=before,
                     after={**after, "tenant_id": str(tenant_id)})
        target.monthly_token_cap, target.monthly_cost_cap_micros = monthly_tokens, monthly_cost_micros
    db.session.commit()
    return target
