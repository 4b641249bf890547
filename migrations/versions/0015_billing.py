"""Billing: organisations (tenant_accounts, memberships, invitations), plans and their limits, subscriptions,
metered usage (subscription_usage per period, usage_counters per day and month), invoices with their
lines, Stripe events and their dispatch; which organisation a conversation and a provider call bill to.
Seeds the Free, Team and Enterprise plans and gives every existing user a personal organisation on Free.

Revision ID: 0015
Revises: 0014
"""

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.models.base import new_uuid

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# (code, name, price in cents, sort order, {feature: (hard, soft)}); None = no limit.
PLANS = (
    (
        "free",
        "Free",
        0,
        0,
        {
            "monthly_tokens": (2_000_000, 1_600_000),
            "monthly_cost": (5_000_000, 4_000_000),
            "messages_per_day": (500, 400),
            "members": (5, 4),
            "projects": (10, 8),
            "storage": (500 * 2**20, 400 * 2**20),
        },
    ),
    (
        "team",
        "Team",
        4_900,
        1,
        {
            "monthly_tokens": (20_000_000, 16_000_000),
            "monthly_cost": (100_000_000, 80_000_000),
            "messages_per_day": (5_000, 4_000),
            "members": (50, 40),
            "projects": (100, 80),
            "storage": (5 * 2**30, 4 * 2**30),
        },
    ),
    (
        "enterprise",
        "Enterprise",
        49_900,
        2,
        {
            "monthly_tokens": (None, 200_000_000),
            "monthly_cost": (None, 1_000_000_000),
            "messages_per_day": (None, None),
            "members": (None, None),
            "projects": (None, None),
            "storage": (None, None),
        },
    ),
)
FEATURE_NAMES = {
    "monthly_tokens": "Tokens per month",
    "monthly_cost": "Model cost per month",
    "messages_per_day": "Messages per day",
    "members": "Members",
    "projects": "Projects",
    "storage": "Project storage",
}
METERED = {"monthly_tokens", "monthly_cost", "messages_per_day"}


def upgrade():
    op.create_table(
        "billing_plans",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("interval", sa.String(length=16), nullable=False),
        sa.Column("interval_count", sa.Integer(), nullable=False),
        sa.Column("price_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("trial_days", sa.Integer(), nullable=True),
        sa.Column("seat_included", sa.Integer(), nullable=True),
        sa.Column(
            "feature_toggles",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("stripe_price_id", sa.String(length=128), nullable=True),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("interval_count >= 1", name=op.f("ck_billing_plans_interval_count_positive")),
        sa.CheckConstraint("price_cents >= 0", name=op.f("ck_billing_plans_price_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_plans")),
        sa.UniqueConstraint("code", name=op.f("uq_billing_plans_code")),
    )
    op.create_table(
        "stripe_events",
        sa.Column("stripe_event_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=128), nullable=False),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("tenant_hint", sa.String(length=64), nullable=True),
        sa.Column("stripe_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("processing_outcome", sa.String(length=32), nullable=False),
        sa.Column("processing_error", sa.Text(), nullable=True),
        sa.Column("processing_attempts", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_events")),
        sa.UniqueConstraint("stripe_event_id", name=op.f("uq_stripe_events_stripe_event_id")),
    )
    with op.batch_alter_table("stripe_events", schema=None) as batch_op:
        batch_op.create_index("ix_stripe_events_status", ["processing_outcome"], unique=False)
        batch_op.create_index("ix_stripe_events_type", ["event_type"], unique=False)

    op.create_table(
        "plan_features",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("feature_key", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("hard_limit", sa.BigInteger(), nullable=True),
        sa.Column("soft_limit", sa.BigInteger(), nullable=True),
        sa.Column("is_metered", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "feature_key IN ('monthly_tokens', 'monthly_cost', 'messages_per_day', 'members', 'projects', 'storage')",
            name=op.f("ck_plan_features_feature_known"),
        ),
        sa.CheckConstraint(
            "(hard_limit IS NULL OR hard_limit >= 0) AND (soft_limit IS NULL OR soft_limit >= 0)",
            name=op.f("ck_plan_features_limits_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["billing_plans.id"], name=op.f("fk_plan_features_plan_id_billing_plans"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_features")),
        sa.UniqueConstraint("plan_id", "feature_key", name=op.f("uq_plan_features_plan_id")),
    )
    op.create_table(
        "stripe_event_dispatch",
        sa.Column("stripe_event_id", sa.Uuid(), nullable=False),
        sa.Column("handler", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["stripe_event_id"],
            ["stripe_events.id"],
            name=op.f("fk_stripe_event_dispatch_stripe_event_id_stripe_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_event_dispatch")),
        sa.UniqueConstraint("stripe_event_id", "handler", name=op.f("uq_stripe_event_dispatch_stripe_event_id")),
    )
    with op.batch_alter_table("stripe_event_dispatch", schema=None) as batch_op:
        batch_op.create_index(
            "ix_stripe_event_dispatch_handler_status", ["handler", "status", "next_retry_at"], unique=False
        )

    op.create_table(
        "tenant_accounts",
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("personal_user_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["personal_user_id"],
            ["users.id"],
            name=op.f("fk_tenant_accounts_personal_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_accounts")),
        sa.UniqueConstraint("personal_user_id", name=op.f("uq_tenant_accounts_personal_user_id")),
        sa.UniqueConstraint("slug", name=op.f("uq_tenant_accounts_slug")),
    )
    op.create_table(
        "tenant_signup_invites",
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("token_hint", sa.String(length=16), nullable=False),
        sa.Column("invited_email", sa.String(length=254), nullable=True),
        sa.Column("issuer_user_id", sa.Uuid(), nullable=True),
        sa.Column("issuer_tenant_id", sa.Uuid(), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("max_redemptions", sa.Integer(), nullable=False),
        sa.Column("redeemed_count", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_redeemed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("redeemed_by_id", sa.Uuid(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role IN ('owner', 'admin', 'member', 'viewer')", name=op.f("ck_tenant_signup_invites_role_known")
        ),
        sa.CheckConstraint(
            "status IN ('active', 'redeemed', 'revoked', 'expired')", name=op.f("ck_tenant_signup_invites_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["issuer_tenant_id"],
            ["tenant_accounts.id"],
            name=op.f("fk_tenant_signup_invites_issuer_tenant_id_tenant_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["issuer_user_id"],
            ["users.id"],
            name=op.f("fk_tenant_signup_invites_issuer_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["redeemed_by_id"],
            ["users.id"],
            name=op.f("fk_tenant_signup_invites_redeemed_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_signup_invites")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_tenant_signup_invites_token_hash")),
    )
    with op.batch_alter_table("tenant_signup_invites", schema=None) as batch_op:
        batch_op.create_index("ix_tenant_signup_invites_status", ["status"], unique=False)
        batch_op.create_index("ix_tenant_signup_invites_tenant", ["issuer_tenant_id", "created_at"], unique=False)

    op.create_table(
        "tenant_subscriptions",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("auto_renew", sa.Boolean(), nullable=False),
        sa.Column("billing_email", sa.String(length=256), nullable=True),
        sa.Column("processor", sa.String(length=32), nullable=False),
        sa.Column("processor_customer_id", sa.String(length=128), nullable=True),
        sa.Column("processor_subscription_id", sa.String(length=128), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("current_period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trial_ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seat_count", sa.Integer(), nullable=True),
        sa.Column(
            "metadata_json",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('trialing', 'active', 'past_due', 'canceled', 'incomplete')",
            name=op.f("ck_tenant_subscriptions_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["billing_plans.id"],
            name=op.f("fk_tenant_subscriptions_plan_id_billing_plans"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant_accounts.id"],
            name=op.f("fk_tenant_subscriptions_tenant_id_tenant_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_subscriptions")),
    )
    with op.batch_alter_table("tenant_subscriptions", schema=None) as batch_op:
        batch_op.create_index("ix_tenant_subscriptions_tenant_status", ["tenant_id", "status"], unique=False)
        batch_op.create_index("ix_tenant_subscriptions_processor_subscription", ["processor_subscription_id"],
                              unique=False)

    op.create_table(
        "tenant_user_memberships",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("monthly_token_cap", sa.BigInteger(), nullable=True),
        sa.Column("monthly_cost_cap_micros", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "role IN ('owner', 'admin', 'member', 'viewer')", name=op.f("ck_tenant_user_memberships_role_known")
        ),
        sa.CheckConstraint(
            "(monthly_token_cap IS NULL OR monthly_token_cap >= 0) AND "
            "(monthly_cost_cap_micros IS NULL OR monthly_cost_cap_micros >= 0)",
            name=op.f("ck_tenant_user_memberships_caps_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant_accounts.id"],
            name=op.f("fk_tenant_user_memberships_tenant_id_tenant_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_tenant_user_memberships_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_user_memberships")),
        sa.UniqueConstraint("user_id", "tenant_id", name=op.f("uq_tenant_user_memberships_user_id")),
    )
    with op.batch_alter_table("tenant_user_memberships", schema=None) as batch_op:
        batch_op.create_index("ix_tenant_user_memberships_tenant_role", ["tenant_id", "role"], unique=False)
        batch_op.create_index("ix_tenant_user_memberships_user", ["user_id"], unique=False)

    op.create_table(
        "usage_counters",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("granularity", sa.String(length=8), nullable=False),
        sa.Column("bucket_key", sa.String(length=120), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_micros", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.Column("storage_bytes", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("granularity IN ('day', 'month')", name=op.f("ck_usage_counters_granularity_known")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant_accounts.id"],
            name=op.f("fk_usage_counters_tenant_id_tenant_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_usage_counters_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_counters")),
        sa.UniqueConstraint("bucket_key", name=op.f("uq_usage_counters_bucket_key")),
    )
    with op.batch_alter_table("usage_counters", schema=None) as batch_op:
        batch_op.create_index(
            "ix_usage_counters_tenant_period", ["tenant_id", "granularity", "period_start"], unique=False
        )
        batch_op.create_index("ix_usage_counters_user_period", ["user_id", "period_start"], unique=False)

    op.create_table(
        "subscription_invoices",
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("external_invoice_id", sa.String(length=128), nullable=True),
        sa.Column("hosted_invoice_url", sa.String(length=256), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("marked_paid_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "status IN ('draft', 'open', 'paid', 'void', 'uncollectible')",
            name=op.f("ck_subscription_invoices_status_known"),
        ),
        sa.CheckConstraint("amount_cents >= 0", name=op.f("ck_subscription_invoices_amount_not_negative")),
        sa.ForeignKeyConstraint(
            ["marked_paid_by_id"],
            ["users.id"],
            name=op.f("fk_subscription_invoices_marked_paid_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["tenant_subscriptions.id"],
            name=op.f("fk_subscription_invoices_subscription_id_tenant_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant_accounts.id"],
            name=op.f("fk_subscription_invoices_tenant_id_tenant_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_invoices")),
        sa.UniqueConstraint("external_invoice_id", name=op.f("uq_subscription_invoices_external_invoice_id")),
        sa.UniqueConstraint("number", name=op.f("uq_subscription_invoices_number")),
    )
    with op.batch_alter_table("subscription_invoices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_subscription_invoices_subscription_period", ["subscription_id", "period_start"], unique=False
        )
        batch_op.create_index("ix_subscription_invoices_tenant_created", ["tenant_id", "created_at"], unique=False)

    op.create_table(
        "subscription_usage",
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("feature_key", sa.String(length=64), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("external_event_id", sa.String(length=128), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["tenant_subscriptions.id"],
            name=op.f("fk_subscription_usage_subscription_id_tenant_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_usage")),
        sa.UniqueConstraint(
            "subscription_id", "feature_key", "period_start", name=op.f("uq_subscription_usage_subscription_id")
        ),
    )
    op.create_table(
        "invoice_items",
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=256), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("unit_amount_cents", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["subscription_invoices.id"],
            name=op.f("fk_invoice_items_invoice_id_subscription_invoices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_items")),
    )
    with op.batch_alter_table("invoice_items", schema=None) as batch_op:
        batch_op.create_index("ix_invoice_items_invoice", ["invoice_id", "position"], unique=False)

    if op.get_bind().dialect.name == "sqlite":
        # Not batch mode: rebuilding these tables would, with foreign keys on, delete or null every row
        # that points at them. SQLite adds a nullable column with its reference in place.
        for table in ("model_requests", "nexus_conversations"):
            op.execute(
                f"ALTER TABLE {table} ADD COLUMN tenant_id CHAR(32) REFERENCES tenant_accounts (id) ON DELETE SET NULL"
            )
    else:
        for table in ("model_requests", "nexus_conversations"):
            op.add_column(table, sa.Column("tenant_id", sa.Uuid(), nullable=True))
            op.create_foreign_key(
                op.f(f"fk_{table}_tenant_id_tenant_accounts"),
                table,
                "tenant_accounts",
                ["tenant_id"],
                ["id"],
                ondelete="SET NULL",
            )
    op.create_index("ix_model_requests_tenant_requested", "model_requests", ["tenant_id", "requested_at"], unique=False)
    _seed_plans_and_personal_organisations()


def _seed_plans_and_personal_organisations():
    connection = op.get_bind()
    now = datetime.now(UTC)
    plans = sa.table(
        "billing_plans",
        sa.column("id", sa.Uuid()),
        *(
            sa.column(name)
            for name in (
                "code",
                "name",
                "interval",
                "interval_count",
                "price_cents",
                "currency",
                "sort_order",
                "is_active",
                "created_at",
                "updated_at",
            )
        ),
    )
    features = sa.table(
        "plan_features",
        sa.column("plan_id", sa.Uuid()),
        sa.column("feature_key"),
        sa.column("display_name"),
        sa.column("hard_limit"),
        sa.column("soft_limit"),
        sa.column("is_metered"),
        sa.column("created_at"),
    )
    plan_ids = {}
    for code, name, price_cents, order, limits in PLANS:
        plan_ids[code] = new_uuid()
        connection.execute(
            sa.insert(plans).values(
                id=plan_ids[code],
                code=code,
                name=name,
                interval="monthly",
                interval_count=1,
                price_cents=price_cents,
                currency="USD",
                sort_order=order,
                is_active=True,
                created_at=_stored(now),
                updated_at=_stored(now),
            )
        )
        connection.execute(
            sa.insert(features),
            [
                {
                    "plan_id": plan_ids[code],
                    "feature_key": key,
                    "display_name": FEATURE_NAMES[key],
                    "hard_limit": hard,
                    "soft_limit": soft,
                    "is_metered": key in METERED,
                    "created_at": _stored(now),
                }
                for key, (hard, soft) in limits.items()
            ],
        )

    period_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    period_end = period_start.replace(
        year=period_start.year + period_start.month // 12, month=period_start.month % 12 + 1
    )
    tenants = sa.table(
        "tenant_accounts",
        sa.column("id", sa.Uuid()),
        sa.column("slug"),
        sa.column("name"),
        sa.column("personal_user_id", sa.Uuid()),
        sa.column("created_at"),
    )
    memberships = sa.table(
        "tenant_user_memberships",
        sa.column("id", sa.Uuid()),
        sa.column("user_id", sa.Uuid()),
        sa.column("tenant_id", sa.Uuid()),
        sa.column("role"),
        sa.column("created_at"),
    )
    subscriptions = sa.table(
        "tenant_subscriptions",
        *(
            sa.column(name)
            for name in (
                "status",
                "auto_renew",
                "processor",
                "starts_at",
                "current_period_start",
                "current_period_end",
                "created_at",
                "updated_at",
            )
        ),
        sa.column("id", sa.Uuid()),
        sa.column("tenant_id", sa.Uuid()),
        sa.column("plan_id", sa.Uuid()),
    )
    users = connection.execute(sa.text("SELECT id, email FROM users")).all()
    for user_id, email in users:
        user_uuid = uuid.UUID(user_id) if isinstance(user_id, str) else user_id  # SQLite: CHAR(32) hex
        tenant_id = new_uuid()
        connection.execute(
            sa.insert(tenants).values(
                id=tenant_id,
                slug=f"personal-{user_uuid.hex}",
                name=f"{email} (personal)"[:128],
                personal_user_id=user_uuid,
                created_at=_stored(now),
            )
        )
        connection.execute(
            sa.insert(memberships).values(
                id=new_uuid(), user_id=user_uuid, tenant_id=tenant_id, role="owner", created_at=_stored(now)
            )
        )
        connection.execute(
            sa.insert(subscriptions).values(
                id=new_uuid(),
                tenant_id=tenant_id,
                plan_id=plan_ids["free"],
                status="active",
                auto_renew=True,
                processor="manual",
                starts_at=_stored(now),
                current_period_start=_stored(period_start),
                current_period_end=_stored(period_end),
                created_at=_stored(now),
                updated_at=_stored(now),
            )
        )


def _stored(moment: datetime):
    """Timestamps as the models store them: naive UTC on SQLite (see UTCDateTime), aware on PostgreSQL."""
    return moment.replace(tzinfo=None) if op.get_bind().dialect.name == "sqlite" else moment


def downgrade():
    op.drop_index("ix_model_requests_tenant_requested", table_name="model_requests")
    for table in ("nexus_conversations", "model_requests"):
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f"ALTER TABLE {table} DROP COLUMN tenant_id")
        else:
            op.drop_constraint(op.f(f"fk_{table}_tenant_id_tenant_accounts"), table, type_="foreignkey")
            op.drop_column(table, "tenant_id")
    with op.batch_alter_table("invoice_items", schema=None) as batch_op:
        batch_op.drop_index("ix_invoice_items_invoice")

    op.drop_table("invoice_items")
    op.drop_table("subscription_usage")
    with op.batch_alter_table("subscription_invoices", schema=None) as batch_op:
        batch_op.drop_index("ix_subscription_invoices_tenant_created")
        batch_op.drop_index("ix_subscription_invoices_subscription_period")

    op.drop_table("subscription_invoices")
    with op.batch_alter_table("usage_counters", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_counters_user_period")
        batch_op.drop_index("ix_usage_counters_tenant_period")

    op.drop_table("usage_counters")
    with op.batch_alter_table("tenant_user_memberships", schema=None) as batch_op:
        batch_op.drop_index("ix_tenant_user_memberships_user")
        batch_op.drop_index("ix_tenant_user_memberships_tenant_role")

    op.drop_table("tenant_user_memberships")
    with op.batch_alter_table("tenant_subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_tenant_subscriptions_processor_subscription")
        batch_op.drop_index("ix_tenant_subscriptions_tenant_status")

    op.drop_table("tenant_subscriptions")
    with op.batch_alter_table("tenant_signup_invites", schema=None) as batch_op:
        batch_op.drop_index("ix_tenant_signup_invites_tenant")
        batch_op.drop_index("ix_tenant_signup_invites_status")

    op.drop_table("tenant_signup_invites")
    op.drop_table("tenant_accounts")
    with op.batch_alter_table("stripe_event_dispatch", schema=None) as batch_op:
        batch_op.drop_index("ix_stripe_event_dispatch_handler_status")

    op.drop_table("stripe_event_dispatch")
    op.drop_table("plan_features")
    with op.batch_alter_table("stripe_events", schema=None) as batch_op:
        batch_op.drop_index("ix_stripe_events_type")
        batch_op.drop_index("ix_stripe_events_status")

    op.drop_table("stripe_events")
    op.drop_table("billing_plans")
