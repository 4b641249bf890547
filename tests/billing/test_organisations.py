"""Organisations: shared ones made by site admins, invitations by single-use link, roles, removals,
caps, audit, and who may bill a conversation where."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.auth.services import get_user_by_email
from app.billing import organisations
from app.billing.models import TenantInvite, TenantMembership
from app.chat.models import Conversation
from app.extensions import db
from app.jobs.models import Job
from app.security.audit import AuditLog
from tests.billing.helpers import set_limit
from tests.conftest import SignedInClient, csrf_token_of
from tests.factories import PASSWORD, make_conversation, make_user


def _invite_link(page, tenant_id, email, role="member"):
    response = page.post(f"/organisations/{tenant_id}/invites", data={"email": email, "role": role})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    match = re.search(r'id="invite-link" class="input" type="text" readonly value="([^"]+)"',
                      response.get_data(as_text=True))
    assert match
    return "/" + match.group(1).split("://", 1)[-1].split("/", 1)[1]  # the path, /invites/<token>


def _actions():
    return [row.action for row in db.session.scalars(select(AuditLog).order_by(AuditLog.created_at, AuditLog.id))]


def test_admin_creates_an_organisation_and_an_invitation_link_works_once(app, login_as):
    admin = login_as("admin")
    response = admin.post("/admin/organisations", data={"name": "Research <script>alert(1)</script>"})
    assert response.status_code == 303
    tenant_id = response.headers["Location"].rsplit("/", 1)[1]
    html = admin.get(f"/organisations/{tenant_id}").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert "&lt;script&gt;" in admin.get("/admin/organisations").get_data(as_text=True)

    path = _invite_link(admin, tenant_id, "new@example.org", role="viewer")
    token = path.rsplit("/", 1)[1]
    assert len(token) >= 43  # 256 bits
    stored = db.session.scalar(select(TenantInvite))
    assert stored.token_hash != token and token not in stored.token_hash and stored.token_hint == token[:6]

    visitor = app.test_client()
    page = visitor.get(path)
    assert page.status_code == 200 and f"/login?next={path}" in page.get_data(as_text=True)
    assert f"/register?next={path}" in page.get_data(as_text=True)

    token_field = csrf_token_of(visitor, f"/register?next={path}")
    registered = visitor.post(f"/register?next={path}", data={
        "email": "new@example.org", "display_name": "New", "password": PASSWORD, "confirm": PASSWORD,
        "csrf_token": token_field})
    assert registered.status_code == 303 and registered.headers["Location"] == path  # back to the invitation

    joiner = SignedInClient(visitor, get_user_by_email("new@example.org"))  # signed in by registering
    assert "Accept and join" in joiner.get(path).get_data(as_text=True)
    assert joiner.client.post(path).status_code == 400  # no CSRF token: refused, the link stays usable
    accepted = joiner.post(path)
    assert accepted.status_code == 303
    membership = organisations.membership_of(joiner.user.id, organisations.uuid.UUID(tenant_id))
    assert membership.role == "viewer"

    again = login_as("user").post(path)
    assert again.status_code == 404 and "already been used" in again.get_data(as_text=True)
    wrong = joiner.get("/invites/" + "x" * 43)
    assert wrong.status_code == 404 and "not valid" in wrong.get_data(as_text=True)
    assert {"organisation_created", "invite_created", "invite_accepted", "member_added"} <= set(_actions())


def test_an_expired_invitation_is_refused_with_a_clear_page(app, login_as):
    admin = login_as("admin")
    tenant = organisations.create_organisation(admin.user, "Team")
    path = _invite_link(admin, tenant.id, "late@example.org")
    db.session.execute(update(TenantInvite).values(expires_at=organisations.utcnow() - timedelta(seconds=1)))
    db.session.commit()
    late = login_as("user").post(path)
    assert late.status_code == 404 and "expired" in late.get_data(as_text=True)


def test_with_a_mail_server_the_link_is_mailed_not_shown(app):
    app.config.update(MAIL_SERVER="127.0.0.1", JOBS_WORKER_THREAD=False)
    admin, joiner = make_user("admin"), make_user(email="someone@example.org")
    tenant = organisations.create_organisation(admin, "Mailed")
    result = organisations.create_invite(admin, tenant.id, "someone@example.org", "member")
    assert result.link is None
    job = db.session.scalar(select(Job).where(Job.kind == "send_mail"))
    assert job.payload["to"] == "someone@example.org" and "invites/" not in str(job.payload)
    drawn = organisations._draw_mailed_link(job.payload["link_payload"])  # what the mail job does
    organisations.accept_invite(joiner, drawn["link"].rsplit("/", 1)[1])
    assert organisations.membership_of(joiner.id, tenant.id).role == "member"


def test_owners_and_admins_manage_members_and_every_change_is_audited(app, login_as):
    owner = login_as("admin")
    tenant = organisations.create_organisation(owner.user, "Team")
    other_admin, member = make_user(), make_user()
    for user, role in ((other_admin, "admin"), (member, "member")):
        db.session.add(TenantMembership(user_id=user.id, tenant_id=tenant.id, role=role))
    db.session.commit()
    target = organisations.membership_of(member.id, tenant.id)
    target_id = str(target.id)
    base = f"/organisations/{tenant.id}/members/{target.id}"
    assert owner.post(f"{base}/role", data={"role": "viewer"}).status_code == 303
    with pytest.raises(organisations.ValidationFailed):  # PostgreSQL refuses NUL in text: never sent to it
        organisations.create_invite(owner.user, tenant.id, "a\x00b@example.org", "member")
    assert owner.post(f"{base}/cap", data={"monthly_tokens": "5000", "monthly_cost": "2.50"}).status_code == 303
    db.session.expire_all()
    assert (target.role, target.monthly_token_cap, target.monthly_cost_cap_micros) == ("viewer", 5000, 2_500_000)
    html = owner.get(f"/organisations/{tenant.id}").get_data(as_text=True)
    assert member.email in html and 'value="5000"' in html

    # An organisation admin cannot touch the owner; the last owner cannot go.
    owner_row = organisations.membership_of(owner.user.id, tenant.id)
    with pytest.raises(organisations.Forbidden):
        organisations.change_role(other_admin, tenant.id, owner_row.id, "member")
    with pytest.raises(organisations.Conflict):
        organisations.remove_member(owner.user, tenant.id, owner_row.id)
    assert owner.post(f"{base}/remove").status_code == 303
    assert organisations.membership_of(member.id, tenant.id) is None
    assert {"member_role_changed", "member_cap_changed", "member_removed"} <= set(_actions())
    removed = db.session.scalar(select(AuditLog).where(AuditLog.action == "member_removed"))
    assert (removed.user_id, removed.entity_id, removed.ip_address) == (owner.user.id, target_id, "127.0.0.1")
    assert removed.changes["before"]["user_id"] == str(member.id)

    no_csrf = owner.client.post(f"/organisations/{tenant.id}/invites",
                                data={"email": "a@example.org", "role": "member"})
    assert no_csrf.status_code == 400
    assert owner.client.post("/admin/organisations", data={"name": "Nope"}).status_code == 400


def test_members_limit_refuses_an_invitation(app):
    admin = make_user("admin")
    tenant = organisations.create_organisation(admin, "Small")
    set_limit(tenant.id, "members", hard=1)
    with pytest.raises(organisations.DomainError) as refused:
        organisations.create_invite(admin, tenant.id, "one@example.org", "member")
    assert refused.value.status == 429 and "/billing" in refused.value.message


def test_outsiders_get_404_and_members_cannot_manage(app, login_as):
    admin = make_user("admin")
    tenant = organisations.create_organisation(admin, "Private")
    outsider = login_as("user")
    assert outsider.get(f"/organisations/{tenant.id}").status_code == 404
    assert outsider.post(f"/organisations/{tenant.id}/invites", data={"email": "x@example.org"}).status_code == 404
    other_personal = organisations.personal_tenant_id(admin)
    assert outsider.get(f"/organisations/{other_personal}").status_code == 404
    assert outsider.get("/admin/organisations").status_code == 403

    member = login_as("user")
    db.session.add(TenantMembership(user_id=member.user.id, tenant_id=tenant.id, role="member"))
    db.session.commit()
    assert member.get(f"/organisations/{tenant.id}").status_code == 200
    assert member.post(f"/organisations/{tenant.id}/invites", data={"email": "x@example.org"}).status_code == 403


def test_a_conversation_bills_only_where_its_owner_may_send(app, login_as):
    admin = make_user("admin")
    tenant = organisations.create_organisation(admin, "Billed")
    page = login_as("user")
    db.session.add(TenantMembership(user_id=page.user.id, tenant_id=tenant.id, role="viewer"))
    db.session.commit()
    before = db.session.scalar(select(func.count()).select_from(Conversation))
    viewer = page.post("/chat", data={"content": "hello", "tenant_id": str(tenant.id)})
    assert viewer.status_code == 403
    elsewhere = organisations.create_organisation(admin, "Not yours")
    forged = page.post("/chat", data={"content": "hello", "tenant_id": str(elsewhere.id)})
    assert forged.status_code == 404
    assert page.post("/chat", data={"content": "hello", "tenant_id": "not-an-id"}).status_code == 404
    assert db.session.scalar(select(func.count()).select_from(Conversation)) == before

    db.session.execute(update(TenantMembership).where(TenantMembership.user_id == page.user.id,
                                                      TenantMembership.tenant_id == tenant.id).values(role="member"))
    db.session.commit()
    assert f'<option selected value="{tenant.id}"' not in page.get("/chat").get_data(as_text=True)
    assert str(tenant.id) in page.get("/chat").get_data(as_text=True)  # offered in the "Bill to" picker
    conversation = make_conversation(page.user, messages=2)
    moved = page.post(f"/chat/{conversation.id}/settings", data={
        "settings-model_id": conversation.model_id, "settings-tenant_id": str(tenant.id)})
    assert moved.status_code == 303
    db.session.expire_all()
    assert conversation.tenant_id == tenant.id
    forged = page.post(f"/chat/{conversation.id}/settings", data={
        "settings-model_id": conversation.model_id, "settings-tenant_id": str(elsewhere.id)})
    assert forged.status_code == 404
    db.session.expire_all()
    assert conversation.tenant_id == tenant.id
    organisations.remove_member(admin, tenant.id, organisations.membership_of(page.user.id, tenant.id).id)
    assert "can no longer bill" in page.get(f"/chat/{conversation.id}").get_data(as_text=True)
    refused = page.post(f"/chat/{conversation.id}/messages", data={"content": "still here?"})
    assert refused.status_code == 404
