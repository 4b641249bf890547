"""What /billing shows for one organisation: its plan and period, usage against each limit, the daily
chart, invoices, the plans it could move to and its members. Services take the acting user and ids;
access to another organisation is a 404, a role too low for an action a 403."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import case, func, select
from sqlalchemy.orm import selectinload

from app.auth.models import User
from app.billing import charts, invoices, limits, metering, organisations, subscriptions
from app.billing.models import (
    MANAGING_ROLES,
    TENANT_ROLES,
    BillingPlan,
    TenantAccount,
    TenantMembership,
    TenantSubscription,
)
from app.errors import Forbidden, NotFound
from app.extensions import db
from app.models.base import utcnow

MEMBERS_SHOWN = 20
FEATURE_NAMES = {
    "monthly_tokens": "Tokens this period",
    "monthly_cost": "Cost this period",
    "messages_per_day": "Messages today",
    "members": "Members",
    "projects": "Projects",
    "storage": "Storage",
}


def is_site_admin(user: User) -> bool:
    return user.role == "admin"


def format_money(cents: int, currency: str = "USD") -> str:
    """Cents as money: "$49.00" (other currencies carry their code)."""
    text = f"{cents // 100:,}.{cents % 100:02d}"
    return f"${text}" if currency.upper() == "USD" else f"{text} {currency.upper()}"


# --- Access -------------------------------------------------------------------------------------------


def _role_of(user: User, tenant_id: uuid.UUID) -> str | None:
    membership = organisations.membership_of(user.id, tenant_id)
    return membership.role if membership is not None else None


def organisation_for(user: User, tenant_id: uuid.UUID | None) -> tuple[TenantAccount, str | None]:
    """The organisation the user asked for (their personal one when none), with their role in it.
    Not a member: 404, as if it did not exist (site admins see every organisation, role None)."""
    if tenant_id is None:
        tenant = subscriptions.personal_organisation(user.id, user.email)
        return tenant, "owner"
    tenant = db.session.get(TenantAccount, tenant_id)
    role = _role_of(user, tenant_id) if tenant is not None else None
    if tenant is None or (role is None and not is_site_admin(user)):
        raise NotFound("That organisation does not exist.")
    return tenant, role


def require_managing(user: User, tenant_id: uuid.UUID) -> str | None:
    """The user's role if they may manage the organisation's plan and invoices (owner, admin, or a
    site admin); 404 when not a member, 403 when the role is too low."""
    tenant, role = organisation_for(user, tenant_id)
    if role not in MANAGING_ROLES and not is_site_admin(user):
        raise Forbidden("Only the organisation's owners and admins may do that.")
    return role


# --- What the page shows --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LimitRow:
    """One limit as the page draws it: numbers with units, the bar's fill and the soft mark (0-100)."""

    feature_key: str
    name: str
    used_text: str
    soft_text: str | None
    hard_text: str | None
    state: str          # ok | warning | exceeded
    fill: float | None  # None: no limit, no bar
    soft_mark: float | None
    percent: int | None


def limit_rows(report) -> list[LimitRow]:
    rows = []
    for usage in report:
        scale = usage.hard_limit or (usage.soft_limit * 1.25 if usage.soft_limit else None)
        fill = soft_mark = percent = None
        if scale:
            fill = round(min(usage.used / scale, 1) * 100, 2)
            soft_mark = round(usage.soft_limit / scale * 100, 2) if usage.soft_limit is not None else None
        if usage.hard_limit:
            percent = min(int(usage.used * 100 / usage.hard_limit), 999)
        elif usage.hard_limit == 0:
            fill, percent = 100.0, 100
        rows.append(LimitRow(
            feature_key=usage.feature_key,
            name=usage.display_name or FEATURE_NAMES.get(usage.feature_key, usage.feature_key),
            used_text=limits.format_quantity(usage.unit, usage.used),
            soft_text=limits.format_quantity(usage.unit, usage.soft_limit) if usage.soft_limit is not None else None,
            hard_text=limits.format_quantity(usage.unit, usage.hard_limit) if usage.hard_limit is not None else None,
            state=usage.state, fill=fill, soft_mark=soft_mark, percent=percent))
    return rows


def usage_report(tenant_id: uuid.UUID):
    """Usage against each limit of the organisation's plan (the billing core's report)."""
    return limits.usage_report(tenant_id)


def daily_usage(tenant_id: uuid.UUID, subscription: TenantSubscription) -> list[charts.DayUsage]:
    """Every day of the current period with its tokens, cost and messages (metering.daily_usage)."""
    start = subscription.current_period_start.date()
    end = subscription.current_period_end.date()  # exclusive: the period ends at its midnight
    rows = metering.daily_usage(tenant_id, start, end - timedelta(days=1))
    return charts.fill_days(rows, start, end)


def active_plans() -> list[BillingPlan]:
    """The plans one can be on, with their limits, in the admin's order (two queries)."""
    return list(db.session.scalars(select(BillingPlan).options(selectinload(BillingPlan.features))
                                   .where(BillingPlan.is_active.is_(True))
                                   .order_by(BillingPlan.sort_order, BillingPlan.price_cents, BillingPlan.name)))


def members_of(tenant_id: uuid.UUID, limit: int = MEMBERS_SHOWN) -> tuple[list[tuple[str, str]], int]:
    """The first members (name, role), owners first, and how many there are in all."""
    rank = case({role: number for number, role in enumerate(TENANT_ROLES)}, value=TenantMembership.role)
    rows = db.session.execute(
        select(User.display_name, TenantMembership.role).join(User, User.id == TenantMembership.user_id)
        .where(TenantMembership.tenant_id == tenant_id)
        .order_by(rank, User.display_name, User.id).limit(limit)).all()
    total = db.session.scalar(select(func.count()).select_from(TenantMembership)
                              .where(TenantMembership.tenant_id == tenant_id))
    return [tuple(row) for row in rows], total


def stripe_checkout_available() -> bool:
    """Whether the Stripe helper's checkout exists and Stripe keys are configured."""
    if "billing_stripe.checkout" not in current_app.view_functions:
        return False
    try:
        from app.billing import stripe_payments
    except ImportError:
        return False
    return bool(stripe_payments.is_configured())


def member_management_endpoint() -> str | None:
    """The endpoint of an organisation's members page (the billing core's), when it is registered."""
    return "organisations.show" if "organisations.show" in current_app.view_functions else None


@dataclass
class BillingOverview:
    tenant: TenantAccount
    role: str | None
    subscription: TenantSubscription
    plan: BillingPlan
    limits: list[LimitRow]
    tokens_chart: charts.DailyChart
    cost_chart: charts.DailyChart
    days: list[charts.DayUsage]
    can_manage: bool
    can_change_directly: bool
    invoices: list
    has_more_invoices: bool
    plans: list[BillingPlan]
    members: list
    member_count: int
    stripe_available: bool
    member_endpoint: str | None


def bring_up_to_date(tenant_id: uuid.UUID) -> None:
    """Before the page reads: a manual period that ended rolls forward, and a paid one gets its invoice."""
    invoices.ensure_period_invoice(subscriptions.current_subscription(tenant_id, now=utcnow()))


def billing_overview(user: User, tenant: TenantAccount, role: str | None, invoice_page: int = 1) -> BillingOverview:
    """Everything /billing shows for `tenant` (the caller has checked access with organisation_for and
    brought it up to date)."""
    subscription = subscriptions.current_subscription(tenant.id, now=utcnow())
    can_manage = role in MANAGING_ROLES or is_site_admin(user)
    invoice_list, has_more = [], False
    if can_manage:
        invoice_list, has_more = invoices.invoices_of(tenant.id, invoice_page)
    days = daily_usage(tenant.id, subscription)
    members, member_count = members_of(tenant.id)
    return BillingOverview(
        tenant=tenant, role=role, subscription=subscription, plan=subscription.plan,
        limits=limit_rows(usage_report(tenant.id)),
        tokens_chart=charts.daily_chart(days, "tokens"), cost_chart=charts.daily_chart(days, "cost_micros"),
        days=days, can_manage=can_manage, can_change_directly=is_site_admin(user),
        invoices=invoice_list, has_more_invoices=has_more, plans=active_plans() if can_manage else [],
        members=members, member_count=member_count, stripe_available=can_manage and stripe_checkout_available(),
        member_endpoint=member_management_endpoint())


def invoice_for(user: User, invoice_id: uuid.UUID):
    """An invoice the user may read (an owner or admin of its organisation, or a site admin); another
    organisation's invoice is a 404, a member's or viewer's look a 403."""
    invoice = invoices.get_invoice(invoice_id)
    role = _role_of(user, invoice.tenant_id)
    if role is None and not is_site_admin(user):
        raise NotFound("That invoice does not exist.")
    if role not in MANAGING_ROLES and not is_site_admin(user):
        raise Forbidden("Invoices are shown to the organisation's owners and admins.")
    tenant = db.session.get(TenantAccount, invoice.tenant_id)
    plan = db.session.scalar(select(BillingPlan).join(TenantSubscription, TenantSubscription.plan_id == BillingPlan.id)
                             .where(TenantSubscription.id == invoice.subscription_id))
    return invoice, tenant, plan


def change_plan_directly(user: User, tenant_id: uuid.UUID, plan_code: str):
    """A site admin moves an organisation to a plan without payment (the manual processor); audited.
    Members and viewers: 403; owners and admins without Stripe: 403 (they ask a site admin)."""
    require_managing(user, tenant_id)
    if not is_site_admin(user):
        raise Forbidden("Ask an administrator to change the plan.")
    plan = subscriptions.plan_by_code(plan_code)
    if not plan.is_active:
        raise NotFound("No such plan.")
    current = subscriptions.current_subscription(tenant_id)
    if current.plan_id == plan.id:
        return current, False
    subscription = subscriptions.change_plan(tenant_id, plan, actor_id=user.id, processor="manual",
                                             reason="assigned on /billing by a site admin")
    invoices.ensure_period_invoice(subscription)
    return subscription, True

