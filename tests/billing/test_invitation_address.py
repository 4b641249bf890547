"""An invitation that names an e-mail address is only for the account with that address (in any letter
case): anyone else holding the link sees a page saying so (403) and cannot join, and the link stays
usable for the person invited."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from app.billing import organisations
from app.billing.models import TenantInvite, TenantMembership
from app.extensions import db
from tests.factories import make_user

pytestmark = pytest.mark.postgres


def _invitation(admin, email: str):
    tenant = organisations.create_organisation(admin, "Lab <b>North</b>")
    result = organisations.create_invite(admin, tenant.id, email, "member")
    db.session.commit()
    return tenant, result.invite, "/invites/" + result.link.rsplit("/", 1)[1]


def _members(tenant) -> int:
    return db.session.scalar(select(func.count(TenantMembership.id)).where(TenantMembership.tenant_id == tenant.id))


def test_someone_else_holding_the_link_sees_it_is_for_another_address_and_cannot_join(login_as):
    tenant, invite, path = _invitation(make_user("admin"), "invited@example.org")
    stranger = login_as("user", email="stranger@example.org")
    members_before = _members(tenant)

    page, accepting = stranger.get(path), stranger.post(path)

    for response in (page, accepting):
        html = response.get_data(as_text=True)
        assert response.status_code == 403
        assert "This invitation is for another address" in html and "Accept and join" not in html
        assert "invited@example.org" in html and "stranger@example.org" in html
        assert "Lab &lt;b&gt;North&lt;/b&gt;" in html and "<b>North" not in html
    assert organisations.membership_of(stranger.user.id, tenant.id) is None and _members(tenant) == members_before
    db.session.expire_all()
    assert db.session.get(TenantInvite, invite.id).status == "active"
    with pytest.raises(organisations.InviteForAnotherAddress):
        organisations.accept_invite(stranger.user, path.rsplit("/", 1)[1])


def test_the_invited_address_accepts_in_any_letter_case_after_someone_else_was_refused(login_as):
    tenant, invite, path = _invitation(make_user("admin"), "invited@example.org")
    assert login_as("user").post(path).status_code == 403
    # An address stored with capitals still matches the account's (compared without letter case).
    db.session.execute(update(TenantInvite).where(TenantInvite.id == invite.id)
                       .values(invited_email="Invited@Example.ORG"))
    db.session.commit()
    invited = login_as("user", email="invited@example.org")

    assert "Accept and join" in invited.get(path).get_data(as_text=True)
    accepted = invited.post(path)

    assert accepted.status_code == 303
    assert organisations.membership_of(invited.user.id, tenant.id).role == "member"
    db.session.expire_all()
    assert db.session.get(TenantInvite, invite.id).status == "redeemed"
