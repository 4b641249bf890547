"""What the Stripe tests share: the fake Stripe server, an app configured to use it, organisations
with members by role, and webhook delivery signed as Stripe signs."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.billing.models import BillingPlan, SubscriptionInvoice, TenantMembership, TenantSubscription
from app.billing.subscriptions import current_subscription, personal_organisation
from app.extensions import db
from app.jobs import runner
from app.security.audit import AuditLog
from tests.fakes.stripe_server import FakeStripe, signed

SECRET_KEY = "sk_test_studio_fake_key"
WEBHOOK_SECRET = "whsec_test_studio_fake_secret"
TEAM_PRICE = "price_test_team"
ENTERPRISE_PRICE = "price_test_enterprise"
WEBHOOK = "/billing/stripe/webhook"


@pytest.fixture(scope="module")
def stripe_server():
    with FakeStripe(api_key=SECRET_KEY) as fake:
        yield fake


@pytest.fixture
def fake_stripe(stripe_server):
    """The module's fake Stripe, emptied for this test."""
    stripe_server.requests.clear()
    stripe_server.subscriptions.clear()
    stripe_server.failures.clear()
    return stripe_server


@pytest.fixture
def stripe_app(app, fake_stripe):
    """The app with Stripe keys set and the SDK pointed at the fake; jobs run when the test says."""
    app.config.update(STRIPE_SECRET_KEY=SECRET_KEY, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
                      STRIPE_API_BASE=fake_stripe.url, STRIPE_NETWORK_RETRIES=0, STRIPE_TIMEOUT_SECONDS=5,
                      JOBS_WORKER_THREAD=False, JOBS_RETRY_BASE_SECONDS=5)
    for code, price in (("team", TEAM_PRICE), ("enterprise", ENTERPRISE_PRICE)):
        db.session.scalar(select(BillingPlan).where(BillingPlan.code == code)).stripe_price_id = price
    db.session.commit()
    return app


def organisation_of(user):
    """The user's personal organisation (they are its owner), committed."""
    tenant = personal_organisation(user.id, user.email)
    db.session.commit()
    return tenant


def add_member(tenant, user, role: str) -> None:
    db.session.add(TenantMembership(user_id=user.id, tenant_id=tenant.id, role=role))
    db.session.commit()


def deliver(client, event: dict, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None):
    """POST the event to the webhook as Stripe does (raw JSON body, Stripe-Signature header)."""
    body, headers = signed(event, secret, timestamp)
    return client.post(WEBHOOK, data=body, headers=headers)


def run_jobs() -> int:
    count = runner.run_pending()
    db.session.expire_all()
    return count


def plan_code(tenant) -> str:
    subscription = current_subscription(tenant.id)
    code = subscription.plan.code
    db.session.commit()
    return code


def stripe_rows(tenant) -> list[TenantSubscription]:
    return list(db.session.scalars(select(TenantSubscription).where(
        TenantSubscription.tenant_id == tenant.id, TenantSubscription.processor == "stripe")
        .order_by(TenantSubscription.created_at)))


def plan_changes(tenant) -> list[AuditLog]:
    return list(db.session.scalars(select(AuditLog).where(
        AuditLog.entity_type == "tenant_subscription", AuditLog.entity_id == str(tenant.id),
        AuditLog.action == "plan_changed").order_by(AuditLog.id)))


def invoice_count(tenant) -> int:
    return db.session.scalar(select(func.count(SubscriptionInvoice.id)).where(
        SubscriptionInvoice.tenant_id == tenant.id))
