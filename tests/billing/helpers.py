"""Small helpers of the billing tests: set a plan's limit, use up some of an organisation's quota."""
from __future__ import annotations

from sqlalchemy import update

from app.billing import subscriptions
from app.billing.models import PlanFeature
from app.extensions import db


def set_limit(tenant_id, feature_key: str, *, hard=None, soft=None) -> None:
    """Give the organisation's current plan these limits for `feature_key` (None: no limit)."""
    plan_id = subscriptions.current_subscription(tenant_id).plan_id
    db.session.execute(update(PlanFeature).where(PlanFeature.plan_id == plan_id, PlanFeature.feature_key == feature_key)
                       .values(hard_limit=hard, soft_limit=soft))
    db.session.commit()


def personal_id(user):
    return subscriptions.personal_organisation(user.id, user.email).id
