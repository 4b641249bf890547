"""Helpers for the /billing and /admin/plans tests: a shared organisation with people in each role."""
from __future__ import annotations

import itertools

from app.billing import subscriptions
from app.billing.models import TenantAccount, TenantMembership
from app.extensions import db
from app.models.base import utcnow
from tests.factories import make_user

_numbers = itertools.count(1)


def make_organisation(name: str = "Acme Research", *, members: dict | None = None) -> TenantAccount:
    """A shared organisation on the Free plan; `members` maps a role to the users holding it."""
    tenant = TenantAccount(slug=f"org-{next(_numbers)}", name=name, created_at=utcnow())
    db.session.add(tenant)
    db.session.flush()
    for role, users in (members or {}).items():
        for user in users:
            db.session.add(TenantMembership(user_id=user.id, tenant_id=tenant.id, role=role, created_at=utcnow()))
    subscriptions.current_subscription(tenant.id)
    db.session.commit()
    return tenant


def organisation_with_roles(name: str = "Acme Research") -> tuple[TenantAccount, dict]:
    """An organisation with an owner, an admin, a member and a viewer (all site users)."""
    people = {role: make_user(display_name=f"{role.capitalize()} person") for role in
              ("owner", "admin", "member", "viewer")}
    tenant = make_organisation(name, members={role: [user] for role, user in people.items()})
    return tenant, people


def put_on_plan(tenant_id, code: str, actor=None):
    """Move an organisation to a plan as a site admin would (the manual processor), committed."""
    from app.billing import invoices

    subscription = subscriptions.change_plan(tenant_id, subscriptions.plan_by_code(code),
                                             actor_id=actor.id if actor else None)
    invoices.ensure_period_invoice(subscription)
    db.session.commit()
    return subscription
