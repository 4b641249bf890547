"""Which plan an organisation is on and for which period: the one place that finds (and, for a user's
personal organisation, creates) an organisation's current subscription and changes its plan.

Every other billing module (metering, limits, the pages, Stripe's webhooks, the admin's manual
processor) goes through these functions, so "the current period" means the same thing everywhere."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from app.billing.models import BillingPlan, PlanFeature, TenantAccount, TenantMembership, TenantSubscription
from app.errors import NotFound
from app.extensions import db
from app.models.base import insert_ignoring_duplicates, new_uuid, utcnow
from app.security.audit import record_audit

DEFAULT_PLAN_CODE = "free"
LIVE_STATUSES = ("trialing", "active", "past_due", "incomplete")


def month_period(moment: datetime) -> tuple[datetime, datetime]:
    """The calendar month (UTC) holding `moment`: [first day 00:00, first day of the next month)."""
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return start, end


def personal_organisation(user_id: uuid.UUID, email: str = "") -> TenantAccount:
    """The user's personal organisation, created on first need (with them as owner, on the default
    plan). Safe under concurrency: the insert ignores a row another request just made. Part of the
    caller's transaction."""
    tenant = db.session.scalar(select(TenantAccount).where(TenantAccount.personal_user_id == user_id))
    if tenant is not None:
        return tenant
    now = utcnow()
    db.session.execute(insert_ignoring_duplicates(TenantAccount.__table__, ["personal_user_id"]).values(
        id=new_uuid(), slug=f"personal-{user_id.hex}", name=f"{email or 'My'} (personal)"[:128],
        personal_user_id=user_id, created_at=now))
    tenant = db.session.scalar(select(TenantAccount).where(TenantAccount.personal_user_id == user_id))
    db.session.execute(insert_ignoring_duplicates(TenantMembership.__table__, ["user_id", "tenant_id"]).values(
        id=new_uuid(), user_id=user_id, tenant_id=tenant.id, role="owner", created_at=now))
    current_subscription(tenant.id)
    return tenant


def current_subscription(tenant_id: uuid.UUID, *, now: datetime | None = None) -> TenantSubscription:
    """The organisation's live subscription with its plan loaded. A manual subscription whose period
    has ended moves on to the period holding `now` (Stripe's move only by webhook). An organisation
    without one gets the default plan."""
    now = now or utcnow()
    subscription = db.session.scalar(
        select(TenantSubscription).options(selectinload(TenantSubscription.plan))
        .where(TenantSubscription.tenant_id == tenant_id, TenantSubscription.status.in_(LIVE_STATUSES))
        .order_by(TenantSubscription.created_at.desc(), TenantSubscription.id.desc()).limit(1))
    if subscription is None:
        plan = plan_by_code(DEFAULT_PLAN_CODE)
        start, end = month_period(now)
        subscription = TenantSubscription(tenant_id=tenant_id, plan_id=plan.id, plan=plan, status="active",
                                          processor="manual", starts_at=now, current_period_start=start,
                                          current_period_end=end)
        db.session.add(subscription)
        db.session.flush()
    elif subscription.processor == "manual" and subscription.current_period_end <= now:
        start, end = month_period(now)
        # Conditional, so two requests rolling the same period forward agree.
        db.session.execute(update(TenantSubscription).where(
            TenantSubscription.id == subscription.id,
            TenantSubscription.current_period_end == subscription.current_period_end)
            .values(current_period_start=start, current_period_end=end))
        db.session.refresh(subscription, ["current_period_start", "current_period_end"])
    return subscription


def plan_by_code(code: str) -> BillingPlan:
    plan = db.session.scalar(select(BillingPlan).where(BillingPlan.code == code))
    if plan is None:
        raise NotFound("No such plan.")
    return plan


def plan_features(plan_id: uuid.UUID) -> dict[str, PlanFeature]:
    """The plan's limits by feature key."""
    return {feature.feature_key: feature for feature in db.session.scalars(
        select(PlanFeature).where(PlanFeature.plan_id == plan_id))}


def change_plan(tenant_id: uuid.UUID, plan: BillingPlan, *, actor_id: uuid.UUID | None, processor: str = "manual",
                status: str = "active", period: tuple[datetime, datetime] | None = None,
                processor_customer_id: str | None = None, processor_subscription_id: str | None = None,
                reason: str = "") -> TenantSubscription:
    """Put the organisation on `plan`: the current subscription ends (canceled) and a new one starts,
    for `period` (Stripe's) or the current calendar month (manual). Audited with before and after.
    Usage already metered stays with the old subscription's row, so a mid-period change starts the
    new plan's counts at zero for what is metered per subscription (tokens, cost); per-day and
    per-member counters are per organisation and carry on."""
    now = utcnow()
    previous = current_subscription(tenant_id, now=now)
    before = {"plan": previous.plan.code, "status": previous.status, "processor": previous.processor}
    previous.status, previous.cancel_at = "canceled", now
    start, end = period or month_period(now)
    subscription = TenantSubscription(
        tenant_id=tenant_id, plan_id=plan.id, plan=plan, status=status, processor=processor, starts_at=now,
        current_period_start=start, current_period_end=end,
        processor_customer_id=processor_customer_id or previous.processor_customer_id,
        processor_subscription_id=processor_subscription_id)
    db.session.add(subscription)
    db.session.flush()
    after = {"plan": plan.code, "status": status, "processor": processor}
    if reason:
        after["reason"] = reason
    record_audit(actor_id, "tenant_subscription", tenant_id, "plan_changed", before=before, after=after)
    return subscription
