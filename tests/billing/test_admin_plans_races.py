"""/admin/plans when two admins save at once: the unique constraint the second one hits (the same new
limit, the same new plan code) is a clear message with everything typed kept, never a 500."""
from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from app.billing import plans, subscriptions
from app.billing.models import BillingPlan, PlanFeature
from app.billing.plans import PlanValues
from app.extensions import db

pytestmark = pytest.mark.postgres


def _plan_without_limits(admin) -> BillingPlan:
    plan = plans.create_plan(admin.user.id, "starter", PlanValues(name="Starter", price_cents=900, is_active=True,
                                                                   stripe_price_id=None, sort_order=5, limits={}))
    db.session.commit()
    return plan


def _meanwhile(monkeypatch, write) -> None:
    """Run `write(session)` in another connection, committed, after the form's save has loaded the plan
    and before it writes: what another admin's save at the same moment does."""
    apply = plans._apply

    def apply_after_the_other_admin(plan, values):
        with Session(db.engine) as other:
            write(other)
            other.commit()
        monkeypatch.setattr(plans, "_apply", apply)
        apply(plan, values)

    monkeypatch.setattr(plans, "_apply", apply_after_the_other_admin)


def test_two_admins_adding_the_same_limit_at_once_get_a_conflict_with_their_input_kept(login_as, monkeypatch):
    admin = login_as("admin")
    plan = _plan_without_limits(admin)
    _meanwhile(monkeypatch, lambda other: other.add(PlanFeature(plan_id=plan.id, feature_key="members",
                                                                hard_limit=5, is_metered=False)))
    typed = {"name": "Starter <b>plus</b>", "price": "12.50", "is_active": "y", "sort_order": "5",
             "hard_members": "7", "soft_members": "6"}

    response = admin.post(f"/admin/plans/{plan.id}", typed)

    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Another administrator changed this plan while you were editing it" in html
    assert "Limits as saved now (hard; warning): Members: 5 members." in html  # what the other admin saved
    assert 'value="Starter &lt;b&gt;plus&lt;/b&gt;"' in html and 'value="7"' in html and 'value="6"' in html
    db.session.expire_all()
    assert subscriptions.plan_by_code("starter").name == "Starter"  # nothing of the refused save
    assert subscriptions.plan_features(plan.id)["members"].hard_limit == 5  # the other admin's limit stays

    again = admin.post(f"/admin/plans/{plan.id}", typed)  # saving again, knowingly, replaces it

    assert again.status_code == 303
    db.session.expire_all()
    members = subscriptions.plan_features(plan.id)["members"]
    assert (members.hard_limit, members.soft_limit) == (7, 6)


def test_two_admins_creating_the_same_plan_code_at_once_get_a_message_not_a_500(login_as, monkeypatch):
    admin = login_as("admin")
    _meanwhile(monkeypatch, lambda other: other.add(BillingPlan(code="pro", name="Pro", price_cents=100,
                                                                currency="USD")))
    typed = {"code": "pro", "name": "Professional", "price": "19", "is_active": "y", "hard_members": "9"}

    response = admin.post("/admin/plans/new", typed)

    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "was created a moment ago by someone else" in html and 'value="Professional"' in html
    db.session.expire_all()
    assert subscriptions.plan_by_code("pro").name == "Pro"
