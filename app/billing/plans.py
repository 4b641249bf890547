"""The site admin's side of plans (/admin/plans): list, create and edit plans with their limits,
find organisations and put one on a plan (the manual processor). Every change is audited with
before and after."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app.billing import invoices, subscriptions
from app.billing.models import FEATURES, BillingPlan, PlanFeature, TenantAccount, TenantSubscription
from app.errors import Conflict, NotFound
from app.extensions import db
from app.models.base import escape_like
from app.security.audit import record_audit
from app.security.origin import Origin

SEARCH_RESULTS = 20
EDITED_MEANWHILE = ("Another administrator changed this plan while you were editing it, so nothing was saved. "
                    "Your values are still in the form: check them and save again.")


@dataclass(frozen=True)
class PlanValues:
    """What the plan form edits; `limits` maps each feature key to (hard, soft), None meaning no limit."""

    name: str
    price_cents: int
    is_active: bool
    stripe_price_id: str | None
    sort_order: int
    limits: dict[str, tuple[int | None, int | None]]


@dataclass(frozen=True)
class OrganisationRow:
    tenant: TenantAccount
    plan_name: str | None


def all_plans() -> list[BillingPlan]:
    """Every plan, inactive too, with its limits, in display order (two queries)."""
    return list(db.session.scalars(select(BillingPlan).options(selectinload(BillingPlan.features))
                                   .order_by(BillingPlan.sort_order, BillingPlan.price_cents, BillingPlan.name)))


def subscriber_counts() -> dict[uuid.UUID, int]:
    """How many organisations are on each plan now (one query)."""
    rows = db.session.execute(select(TenantSubscription.plan_id, func.count()).where(
        TenantSubscription.status.in_(subscriptions.LIVE_STATUSES)).group_by(TenantSubscription.plan_id))
    return dict(rows.all())


def get_plan(plan_id: uuid.UUID) -> BillingPlan:
    plan = db.session.scalar(select(BillingPlan).options(selectinload(BillingPlan.features))
                             .where(BillingPlan.id == plan_id))
    if plan is None:
        raise NotFound("That plan does not exist.")
    return plan


def _snapshot(plan: BillingPlan) -> dict:
    return {"name": plan.name, "price_cents": plan.price_cents, "is_active": plan.is_active,
            "stripe_price_id": plan.stripe_price_id, "sort_order": plan.sort_order,
            "limits": {feature.feature_key: {"hard": feature.hard_limit, "soft": feature.soft_limit}
                       for feature in sorted(plan.features, key=lambda feature: feature.feature_key)}}


def _apply(plan: BillingPlan, values: PlanValues) -> None:
    plan.name, plan.price_cents, plan.is_active = values.name, values.price_cents, values.is_active
    plan.stripe_price_id, plan.sort_order = values.stripe_price_id or None, values.sort_order
    existing = {feature.feature_key: feature for feature in plan.features}
    for key in FEATURES:
        hard, soft = values.limits.get(key, (None, None))
        feature = existing.get(key)
        if feature is None:
            if hard is None and soft is None:
                continue
            feature = PlanFeature(feature_key=key, is_metered=key in ("monthly_tokens", "monthly_cost"))
            plan.features.append(feature)
        feature.hard_limit, feature.soft_limit = hard, soft


def _flush_or_conflict(message: str) -> None:
    """Write what was changed; a unique constraint another admin's save hit first (the same new limit,
    the same new code, both saved at once) is a Conflict with `message`, and the transaction is dropped."""
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(message) from None


def create_plan(actor_id: uuid.UUID, code: str, values: PlanValues, origin: Origin | None = None) -> BillingPlan:
    """A new plan with its limits; its code must be new."""
    if db.session.scalar(select(BillingPlan.id).where(BillingPlan.code == code)) is not None:
        raise Conflict(f"A plan with the code “{code}” exists already.")
    plan = BillingPlan(code=code, name=values.name, price_cents=values.price_cents, currency="USD")
    plan.features = []
    _apply(plan, values)
    db.session.add(plan)
    _flush_or_conflict(f"A plan with the code “{code}” was created a moment ago by someone else. Pick another code.")
    record_audit(actor_id, "billing_plan", plan.id, "plan_created", after={"code": code, **_snapshot(plan)},
                 ip_address=origin and origin.ip_address, user_agent=origin and origin.user_agent)
    return plan


def update_plan(actor_id: uuid.UUID, plan_id: uuid.UUID, values: PlanValues,
                origin: Origin | None = None) -> tuple[BillingPlan, bool]:
    """Save the plan and its limits; whether anything changed (only a change is audited). Conflict when
    another admin's save of the same plan added the same limit at the same time."""
    plan = get_plan(plan_id)
    before = _snapshot(plan)
    _apply(plan, values)
    _flush_or_conflict(EDITED_MEANWHILE)
    after = _snapshot(plan)
    if before == after:
        return plan, False
    changed = {key for key in after if before.get(key) != after[key]}
    record_audit(actor_id, "billing_plan", plan.id, "plan_updated",
                 before={key: before[key] for key in changed}, after={key: after[key] for key in changed},
                 ip_address=origin and origin.ip_address, user_agent=origin and origin.user_agent)
    return plan, True


def search_organisations(query: str, limit: int = SEARCH_RESULTS) -> list[OrganisationRow]:
    """Organisations whose name or slug holds `query` (all, newest first, when empty), with their plan."""
    statement = select(TenantAccount).order_by(TenantAccount.name, TenantAccount.id).limit(limit)
    query = (query or "").strip()
    if query:
        pattern = f"%{escape_like(query.lower())}%"
        statement = statement.where(or_(func.lower(TenantAccount.name).like(pattern, escape="\\"),
                                        func.lower(TenantAccount.slug).like(pattern, escape="\\")))
    tenants = list(db.session.scalars(statement))
    plans = dict(db.session.execute(
        select(TenantSubscription.tenant_id, BillingPlan.name)
        .join(BillingPlan, BillingPlan.id == TenantSubscription.plan_id)
        .where(TenantSubscription.tenant_id.in_([tenant.id for tenant in tenants]),
               TenantSubscription.status.in_(subscriptions.LIVE_STATUSES))
        .order_by(TenantSubscription.created_at)).all()) if tenants else {}
    return [OrganisationRow(tenant, plans.get(tenant.id)) for tenant in tenants]


def assign_plan(actor_id: uuid.UUID, tenant_id: uuid.UUID,
                plan_id: uuid.UUID) -> tuple[TenantAccount, BillingPlan, bool]:
    """Put an organisation on a plan by hand (audited by subscriptions.change_plan), and invoice the
    period when the plan is paid; whether anything changed."""
    tenant = db.session.get(TenantAccount, tenant_id)
    if tenant is None:
        raise NotFound("That organisation does not exist.")
    plan = get_plan(plan_id)
    current = subscriptions.current_subscription(tenant.id)
    if current.plan_id == plan.id:
        return tenant, plan, False
    subscription = subscriptions.change_plan(tenant.id, plan, actor_id=actor_id, processor="manual",
                                             reason="assigned at /admin/plans")
    invoices.ensure_period_invoice(subscription)
    return tenant, plan, True
