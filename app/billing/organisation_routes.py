"""Organisation pages: site admins' list of shared organisations (/admin/organisations), a person's
organisations (/organisations), one organisation's members and invitations, and accepting an
invitation link (/invites/<token>). Thin: parse the form, call one service in organisations.py, render."""
from __future__ import annotations

import uuid

from flask import Blueprint, render_template, request, url_for
from flask_login import current_user

from app.billing import limits, organisations
from app.billing.models import MANAGING_ROLES
from app.billing.organisation_forms import ROLE_CHOICES, CapForm, InviteForm, OrganisationForm, RoleForm
from app.core.forms import submitted_or_refuse
from app.core.pages import done, is_htmx, page_number
from app.errors import ValidationFailed
from app.security.origin import request_origin
from app.security.roles import Role, acting_user, login_required, role_required

bp = Blueprint("organisations", __name__)


# --- site admins -----------------------------------------------------------------------------------

@bp.route("/admin/organisations", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def admin_list():
    """Shared organisations with their member counts, and a form to create one (you become its owner)."""
    form = OrganisationForm()
    if form.validate_on_submit():
        tenant = organisations.create_organisation(acting_user(), form.name.data, origin=request_origin())
        return done(f"{tenant.name} created: invite its members.",
                    url_for("organisations.show", tenant_id=tenant.id), navigate=True)
    page = page_number()
    rows, has_more = organisations.shared_organisations_page(page)
    status = 422 if form.errors else 200
    return render_template("billing/organisations/admin_list.html", form=form, rows=rows, page=page,
                           has_more=has_more), status


# --- members ---------------------------------------------------------------------------------------

@bp.get("/organisations")
@login_required
def index():
    """The organisations the signed-in person belongs to, with their role."""
    return render_template("billing/organisations/index.html",
                           memberships=organisations.organisations_of(acting_user()))


def _show(tenant_id: uuid.UUID, invite_form=None, new_link: str | None = None, link_for: str | None = None,
          status: int = 200):
    user = acting_user()
    membership = organisations.require_role(user, tenant_id)
    tenant = organisations.get_organisation(tenant_id)
    page = page_number()
    members, has_more = organisations.members_page(tenant_id, page)
    can_manage = membership.role in MANAGING_ROLES or user.role == "admin"  # site admins may manage any
    invite_form = invite_form or InviteForm(formdata=None)
    invite_form.role.choices = [choice for choice in ROLE_CHOICES
                                if choice[0] != "owner" or membership.role == "owner"]
    context = {"tenant": tenant, "membership": membership, "members": members, "has_more": has_more, "page": page,
                   "can_manage": can_manage, "invite_form": invite_form, "new_link": new_link, "link_for": link_for,
                   "invites": organisations.open_invites(tenant_id) if can_manage else [],
                   "spent": limits.member_rows(tenant_id, members) if can_manage else {},
                   "role_choices": invite_form.role.choices, "format_quantity": limits.format_quantity}
    if is_htmx() and request.method == "POST":
        return render_template("billing/organisations/_invites.html", **context), status
    return render_template("billing/organisations/show.html", **context), status


@bp.get("/organisations/<uuid:tenant_id>")
@login_required
def show(tenant_id: uuid.UUID):
    """One organisation: its members (with their caps and spending this month for its admins) and
    open invitations. Anyone not in it gets 404."""
    return _show(tenant_id)


@bp.post("/organisations/<uuid:tenant_id>/invites")
@login_required
def invite(tenant_id: uuid.UUID):
    """Invite someone by e-mail: mailed when a mail server is set, otherwise the link is shown once."""
    organisations.require_role(acting_user(), tenant_id, MANAGING_ROLES)
    form = InviteForm()
    form.role.choices = ROLE_CHOICES
    if not form.validate_on_submit():
        return _show(tenant_id, invite_form=form, status=200 if is_htmx() else 422)
    try:
        result = organisations.create_invite(acting_user(), tenant_id, form.email.data, form.role.data,
                                              origin=request_origin())
    except ValidationFailed as error:
        form.email.errors = [*form.email.errors, error.message]
        return _show(tenant_id, invite_form=form, status=200 if is_htmx() else 422)
    message = None if result.link else f"Invitation mailed to {result.invite.invited_email}."
    return _show(tenant_id, new_link=result.link, link_for=result.invite.invited_email, status=200) \
        if result.link or is_htmx() else done(
        message, url_for("organisations.show", tenant_id=tenant_id))


@bp.post("/organisations/<uuid:tenant_id>/invites/<uuid:invite_id>/revoke")
@login_required
def revoke_invite(tenant_id: uuid.UUID, invite_id: uuid.UUID):
    organisations.revoke_invite(acting_user(), tenant_id, invite_id, origin=request_origin())
    return done("Invitation withdrawn.", url_for("organisations.show", tenant_id=tenant_id), navigate=True)


@bp.post("/organisations/<uuid:tenant_id>/members/<uuid:membership_id>/role")
@login_required
def change_role(tenant_id: uuid.UUID, membership_id: uuid.UUID):
    form = submitted_or_refuse(RoleForm())
    organisations.change_role(acting_user(), tenant_id, membership_id, form.role.data, origin=request_origin())
    return done("Role changed.", url_for("organisations.show", tenant_id=tenant_id), navigate=True)


@bp.post("/organisations/<uuid:tenant_id>/members/<uuid:membership_id>/remove")
@login_required
def remove_member(tenant_id: uuid.UUID, membership_id: uuid.UUID):
    organisations.remove_member(acting_user(), tenant_id, membership_id, origin=request_origin())
    return done("Member removed.", url_for("organisations.show", tenant_id=tenant_id), navigate=True)


@bp.post("/organisations/<uuid:tenant_id>/members/<uuid:membership_id>/cap")
@login_required
def set_cap(tenant_id: uuid.UUID, membership_id: uuid.UUID):
    """Cap one member's monthly tokens and/or cost here (blank: no cap)."""
    form = submitted_or_refuse(CapForm())
    organisations.set_member_cap(acting_user(), tenant_id, membership_id, monthly_tokens=form.monthly_tokens.data,
                                 monthly_cost_micros=form.cost_micros(), origin=request_origin())
    return done("Cap saved.", url_for("organisations.show", tenant_id=tenant_id), navigate=True)


# --- invitations -----------------------------------------------------------------------------------

@bp.route("/invites/<token>", methods=["GET", "POST"])
def accept_invite(token: str):
    """An invitation link: signed out, sign in or create an account and come back; signed in, see
    which organisation and role, and accept (POST). A link that is not valid gets a clear page; so does
    an account whose address is not the invited one (403)."""
    try:
        invitation = organisations.find_invite(token)
    except organisations.InviteInvalid as error:
        return render_template("billing/organisations/invite.html", error=error.message, invitation=None), 404
    tenant = organisations.get_organisation(invitation.issuer_tenant_id)
    if not current_user.is_authenticated:
        return render_template("billing/organisations/invite.html", invitation=invitation, tenant=tenant,
                               error=None, here=request.path)
    if not organisations.invite_is_for(invitation, acting_user()):
        # Refused on sight and on POST alike; the link stays usable for the address it names.
        return render_template("billing/organisations/invite.html", invitation=invitation, tenant=tenant,
                               error=None, here=request.path, for_another_address=True), 403
    if request.method == "POST":
        membership = organisations.accept_invite(acting_user(), token, origin=request_origin())
        return done(f"You are in {tenant.name} as {membership.role}.",
                    url_for("organisations.show", tenant_id=tenant.id), navigate=True)
    return render_template("billing/organisations/invite.html", invitation=invitation, tenant=tenant, error=None,
                           here=request.path)
