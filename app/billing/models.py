"""Organisations, plans, subscriptions, metered usage, invoices and Stripe events (seed 002
`tenant_accounts`, `tenant_user_memberships`, `tenant_signup_invites`, `billing_plans`,
`plan_features`, `tenant_subscriptions`, `subscription_invoices`, `subscription_usage`,
`usage_counters`, `stripe_events`, `stripe_event_dispatch`; plus `invoice_items`, an invoice's lines).

Money: plan prices and invoices are in integer cents (the seed's `price_cents`, `amount_cents`);
metered cost is kept in micro-dollars (integer) so increments stay exact and a limit in cents compares
without rounding. Usage counts are increments in SQL (upserts on a unique bucket), never
read-modify-write, so concurrent answers cannot lose one."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Optional

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.extensions import db
from app.models.base import JSONType, Timestamps, UTCDateTime, UUIDPrimaryKey, user_ref_set_null, utcnow

TENANT_ROLES = ("owner", "admin", "member", "viewer")
# Who may do what inside an organisation (site admins may do everything, see services).
MANAGING_ROLES = ("owner", "admin")      # change the plan, invite, set member caps, see invoices
SENDING_ROLES = ("owner", "admin", "member")  # bill conversations to it; viewers only look

# The limits a plan can set (plan_features.feature_key). Quantities are in the unit shown.
FEATURES = {
    "monthly_tokens": "tokens",        # input + output tokens in the subscription's period
    "monthly_cost": "usd_micros",      # provider cost in the period, in millionths of a dollar
    "messages_per_day": "messages",    # answers asked for in a UTC day
    "members": "members",              # memberships of the organisation
    "projects": "projects",            # projects owned by members, billed to it
    "storage": "bytes",                # project storage
}
SUBSCRIPTION_STATUSES = ("trialing", "active", "past_due", "canceled", "incomplete")
INVOICE_STATUSES = ("draft", "open", "paid", "void", "uncollectible")
COUNTER_GRANULARITIES = ("day", "month")


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


class TenantAccount(UUIDPrimaryKey, db.Model):
    """An organisation: what usage is billed to. Every user has a personal one (`personal_user_id`
    set, they its owner); admins create shared ones and invite members."""

    __tablename__ = "tenant_accounts"

    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    # The user whose personal organisation this is; NULL for a shared one. Unique: one each.
    personal_user_id: Mapped[Optional[uuid.UUID]] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=True, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def is_personal(self) -> bool:
        return self.personal_user_id is not None


class TenantMembership(UUIDPrimaryKey, db.Model):
    """A user in an organisation with a role; an organisation admin may cap what one member spends."""

    __tablename__ = "tenant_user_memberships"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenant_accounts.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    # Per-member caps inside the organisation, per calendar month (UTC); NULL = only the plan's limits.
    monthly_token_cap: Mapped[Optional[int]] = mapped_column(BigInteger, nullable=True)
    monthly_cost_cap_micros: Mapped[Optional[int]] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(lazy="raise")
    tenant: Mapped[TenantAccount] = relationship(lazy="raise")

    __table_args__ = (
        UniqueConstraint("user_id", "tenant_id"),
        CheckConstraint(_in("role", TENANT_ROLES), name="role_known"),
        CheckConstraint("(monthly_token_cap IS NULL OR monthly_token_cap >= 0) AND "
                        "(monthly_cost_cap_micros IS NULL OR monthly_cost_cap_micros >= 0)", name="caps_not_negative"),
        Index("ix_tenant_user_memberships_tenant_role", "tenant_id", "role"),
        Index("ix_tenant_user_memberships_user", "user_id"),
    )


class TenantInvite(UUIDPrimaryKey, Timestamps, db.Model):
    """A single-use link inviting someone (by e-mail) into an organisation with a role. Only a keyed
    hash of the token is stored; `token_hint` (its first characters) lets admins tell links apart."""

    __tablename__ = "tenant_signup_invites"

    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    token_hint: Mapped[str] = mapped_column(String(16))
    invited_email: Mapped[Optional[str]] = mapped_column(String(254), nullable=True)
    issuer_user_id: Mapped[Optional[uuid.UUID]] = user_ref_set_null()
    issuer_tenant_id: Mapped[Optional[uuid.UUID]] = mapped_column(
        Uuid, ForeignKey("tenant_accounts.id", ondelete="CASCADE"), nullable=True)
    role: Mapped[str] = mapped_column(String(16), default="member")
    status: Mapped[str] = mapped_column(String(16), default="active")  # active|redeemed|revoked|expired
    max_redemptions: Mapped[int] = mapped_column(Integer, default=1)
    redeemed_count: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    last_redeemed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    redeemed_by_id: Mapped[Optional[uuid.UUID]] = user_ref_set_null()
    revoked_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    revoked_reason: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    note: Mapped[Optional[str]] = mapped_column(Text, nullable=True)

    __table_args__ = (
        CheckConstraint(_in("role", TENANT_ROLES), name="role_known"),
        CheckConstraint(_in("status", ("active", "redeemed", "revoked", "expired")), name="status_known"),
        Index("ix_tenant_signup_invites_status", "status"),
        Index("ix_tenant_signup_invites_tenant", "issuer_tenant_id", "created_at"),
    )


class BillingPlan(UUIDPrimaryKey, Timestamps, db.Model):
    """A plan: its price per interval and, through plan_features, its limits. `stripe_price_id` is
    the Stripe Price an upgrade checks out (empty: the plan is assigned by an admin only)."""

    __tablename__ = "billing_plans"

    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    interval: Mapped[str] = mapped_column(String(16), default="monthly")
    interval_count: Mapped[int] = mapped_column(Integer, default=1)
    price_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    trial_days: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    seat_included: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    feature_toggles: Mapped[Optional[dict]] = mapped_column(JSONType, nullable=True)
    stripe_price_id: Mapped[Optional[str]] = mapped_column(String(128), nullable=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    features: Mapped[list[PlanFeature]] = relationship(
        lazy="raise", back_populates="plan", cascade="all, delete-orphan", order_by="PlanFeature.id")

    __table_args__ = (
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
        CheckConstraint("interval_count >= 1", name="interval_count_positive"),
    )


class PlanFeature(db.Model):
    """One limit of a plan: past `soft_limit` a warning shows, at `hard_limit` the action is refused.
    NULL means no such limit. Quantities are in FEATURES' units."""

    __tablename__ = "plan_features"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("billing_plans.id", ondelete="CASCADE"))
    feature_key: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[Optional[str]] = mapped_column(String(128), nullable=True)
    description: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    hard_limit: Mapped[Optional[int]] = mapped_column(BigInteger, nullable=True)
    soft_limit: Mapped[Optional[int]] = mapped_column(BigInteger, nullable=True)
    is_metered: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    plan: Mapped[BillingPlan] = relationship(lazy="raise", back_populates="features")

    __table_args__ = (
        UniqueConstraint("plan_id", "feature_key"),
        CheckConstraint(_in("feature_key", FEATURES), name="feature_known"),
        CheckConstraint("(hard_limit IS NULL OR hard_limit >= 0) AND (soft_limit IS NULL OR soft_limit >= 0)",
                        name="limits_not_negative"),
    )


class TenantSubscription(UUIDPrimaryKey, Timestamps, db.Model):
    """An organisation's plan over time. The current one is the newest row not canceled; its period
    (`current_period_start` to `current_period_end`) is what monthly limits count within.
    `processor` is "manual" (an admin assigned it) or "stripe" (changed only by webhooks/API reads)."""

    __tablename__ = "tenant_subscriptions"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenant_accounts.id", ondelete="CASCADE"))
    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("billing_plans.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(24), default="active")
    auto_renew: Mapped[bool] = mapped_column(Boolean, default=True)
    billing_email: Mapped[Optional[str]] = mapped_column(String(256), nullable=True)
    processor: Mapped[str] = mapped_column(String(32), default="manual")
    processor_customer_id: Mapped[Optional[str]] = mapped_column(String(128), nullable=True)
    processor_subscription_id: Mapped[Optional[str]] = mapped_column(String(128), nullable=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    current_period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    current_period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    trial_ends_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    cancel_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    seat_count: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    metadata_json: Mapped[Optional[dict]] = mapped_column(JSONType, nullable=True)

    plan: Mapped[BillingPlan] = relationship(lazy="raise")
    tenant: Mapped[TenantAccount] = relationship(lazy="raise")

    __table_args__ = (
        CheckConstraint(_in("status", SUBSCRIPTION_STATUSES), name="status_known"),
        Index("ix_tenant_subscriptions_tenant_status", "tenant_id", "status"),
        # Not unique: a Stripe subscription changing plan keeps its id, and each plan is a row here.
        Index("ix_tenant_subscriptions_processor_subscription", "processor_subscription_id"),
    )


class SubscriptionInvoice(UUIDPrimaryKey, db.Model):
    """A bill for one period of a subscription; `number` is what people quote (e.g. "INV-2026-000042").
    Stripe invoices carry their `external_invoice_id` and hosted URL; manual ones are marked paid by an admin."""

    __tablename__ = "subscription_invoices"

    subscription_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenant_subscriptions.id", ondelete="CASCADE"))
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenant_accounts.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(32), unique=True)
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    external_invoice_id: Mapped[Optional[str]] = mapped_column(String(128), nullable=True, unique=True)
    hosted_invoice_url: Mapped[Optional[str]] = mapped_column(String(256), nullable=True)
    paid_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    marked_paid_by_id: Mapped[Optional[uuid.UUID]] = user_ref_set_null()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    items: Mapped[list[InvoiceItem]] = relationship(
        lazy="raise", back_populates="invoice", cascade="all, delete-orphan", order_by="InvoiceItem.position")

    __table_args__ = (
        CheckConstraint(_in("status", INVOICE_STATUSES), name="status_known"),
        CheckConstraint("amount_cents >= 0", name="amount_not_negative"),
        Index("ix_subscription_invoices_subscription_period", "subscription_id", "period_start"),
        Index("ix_subscription_invoices_tenant_created", "tenant_id", "created_at"),
    )


class InvoiceItem(UUIDPrimaryKey, db.Model):
    """One line of an invoice: the plan for the period, or metered usage."""

    __tablename__ = "invoice_items"

    invoice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("subscription_invoices.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    description: Mapped[str] = mapped_column(String(256))
    quantity: Mapped[int] = mapped_column(BigInteger, default=1)
    unit_amount_cents: Mapped[int] = mapped_column(Integer, default=0)
    amount_cents: Mapped[int] = mapped_column(Integer, default=0)

    invoice: Mapped[SubscriptionInvoice] = relationship(lazy="raise", back_populates="items")

    __table_args__ = (Index("ix_invoice_items_invoice", "invoice_id", "position"),)


class SubscriptionUsage(UUIDPrimaryKey, db.Model):
    """Metered quantity of one feature in one period of a subscription (tokens, cost in micro-dollars),
    incremented by an upsert in the transaction that records each provider call."""

    __tablename__ = "subscription_usage"

    subscription_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenant_subscriptions.id", ondelete="CASCADE"))
    feature_key: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(32))
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    quantity: Mapped[int] = mapped_column(BigInteger, default=0)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    external_event_id: Mapped[Optional[str]] = mapped_column(String(128), nullable=True)

    __table_args__ = (UniqueConstraint("subscription_id", "feature_key", "period_start"),)


class UsageCounter(UUIDPrimaryKey, Timestamps, db.Model):
    """Usage of an organisation (user_id NULL) or of one member in it, per UTC day or calendar month:
    what per-day limits and per-member caps compare against, and what /billing's chart draws.

    `bucket_key` ("tenant|user or -|granularity|period_start") is unique, so an upsert finds the row
    also when user_id is NULL (NULLs never conflict in a plain unique index)."""

    __tablename__ = "usage_counters"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenant_accounts.id", ondelete="CASCADE"))
    user_id: Mapped[Optional[uuid.UUID]] = user_ref_set_null()
    period_start: Mapped[date] = mapped_column(Date)
    granularity: Mapped[str] = mapped_column(String(8))
    bucket_key: Mapped[str] = mapped_column(String(120), unique=True)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)   # provider calls (answers, titles, API)
    messages: Mapped[int] = mapped_column(BigInteger, default=0)   # answers asked for (messages_per_day)
    storage_bytes: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (
        CheckConstraint(_in("granularity", COUNTER_GRANULARITIES), name="granularity_known"),
        Index("ix_usage_counters_tenant_period", "tenant_id", "granularity", "period_start"),
        Index("ix_usage_counters_user_period", "user_id", "period_start"),
    )


class StripeEvent(UUIDPrimaryKey, db.Model):
    """A webhook event as Stripe sent it (after its signature was checked); the unique event id makes
    a redelivery a no-op."""

    __tablename__ = "stripe_events"

    stripe_event_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict] = mapped_column(JSONType)
    tenant_hint: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    stripe_created_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    processing_outcome: Mapped[str] = mapped_column(String(32), default="received")  # received|processed|ignored|failed
    processing_error: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    processing_attempts: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index("ix_stripe_events_type", "event_type"),
        Index("ix_stripe_events_status", "processing_outcome"),
    )


class StripeEventDispatch(UUIDPrimaryKey, Timestamps, db.Model):
    """One handler's work on one event, retried with backoff by the job runner until it succeeds."""

    __tablename__ = "stripe_event_dispatch"

    stripe_event_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("stripe_events.id", ondelete="CASCADE"))
    handler: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32), default="pending")  # pending|succeeded|failed|skipped
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    next_retry_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[Optional[str]] = mapped_column(Text, nullable=True)

    __table_args__ = (
        UniqueConstraint("stripe_event_id", "handler"),
        Index("ix_stripe_event_dispatch_handler_status", "handler", "status", "next_retry_at"),
    )

