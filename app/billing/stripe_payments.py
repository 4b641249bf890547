"""Payments through Stripe with the official `stripe` SDK: Checkout for an upgrade, the customer portal,
and the API reads the webhook handlers make.

Each call builds its own StripeClient from the app's settings (key, API base, retries, timeout) on its
own HTTP session, closed afterwards: nothing global (`stripe.api_key`, `stripe.api_base`) is set, so
two apps (or tests) in one process never share a key or a fake server.

A checkout never changes the plan by itself: the plan changes only when a verified webhook (or the
API read one triggers) says the subscription is paid, see stripe_dispatch."""
from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode

import requests
import stripe
from flask import current_app
from sqlalchemy import select

from app.billing.models import MANAGING_ROLES, TenantSubscription
from app.billing.subscriptions import current_subscription, plan_by_code
from app.errors import DomainError, NotFound
from app.extensions import db

PLAN_CODE = re.compile(r"[A-Za-z0-9_-]{1,64}")
NOT_CONFIGURED = ("Online payment is not set up on this server. An administrator can assign a plan "
                  "at /admin/plans.")


class PaymentsUnavailable(DomainError):
    """Paying online is not possible for this request (no keys, no price, no customer): a message, not a bug."""

    status = 409


class PaymentProviderError(DomainError):
    """Stripe could not be reached or refused the call."""

    status = 502


def is_configured() -> bool:
    """Whether Stripe keys are set (the secret key and the webhook signing secret); else the manual processor."""
    config = current_app.config
    return bool(config.get("STRIPE_SECRET_KEY") and config.get("STRIPE_WEBHOOK_SECRET"))


@contextmanager
def stripe_client() -> Iterator[stripe.StripeClient]:
    """A StripeClient for one piece of work, on an HTTP session closed when the block ends."""
    config = current_app.config
    base = {"api": config["STRIPE_API_BASE"]} if config.get("STRIPE_API_BASE") else None
    with requests.Session() as session:
        yield stripe.StripeClient(
            config["STRIPE_SECRET_KEY"], base_addresses=base, max_network_retries=config["STRIPE_NETWORK_RETRIES"],
            http_client=stripe.RequestsClient(timeout=config["STRIPE_TIMEOUT_SECONDS"], session=session))


def _require_configured() -> None:
    if not is_configured():
        raise PaymentsUnavailable(NOT_CONFIGURED)


def _require_manager(user, tenant_id: uuid.UUID) -> None:
    """Owners and admins of the organisation (and site admins); 404 for strangers, 403 for other roles."""
    from app.billing import organisations

    organisations.require_role(user, tenant_id, MANAGING_ROLES)


def billing_page_url(tenant_id: uuid.UUID, **arguments: str) -> str:
    """The absolute address of the organisation's /billing page (Stripe sends people back there)."""
    query = urlencode({"org": str(tenant_id), **arguments})
    return f"{current_app.config['STUDIO_BASE_URL'].rstrip('/')}/billing?{query}"


def stripe_customer_id(tenant_id: uuid.UUID) -> str | None:
    """The organisation's Stripe customer, from its newest subscription row that names one."""
    return db.session.scalar(
        select(TenantSubscription.processor_customer_id)
        .where(TenantSubscription.tenant_id == tenant_id, TenantSubscription.processor_customer_id.is_not(None))
        .order_by(TenantSubscription.created_at.desc(), TenantSubscription.id.desc()).limit(1))


def start_checkout(user, tenant_id: uuid.UUID, plan_code: str) -> str:
    """Create a Stripe Checkout Session (subscription mode) for the plan's Stripe price and return its
    URL. The organisation is named in client_reference_id and metadata (also on the subscription), so
    the webhooks find it. Nothing changes here: the plan follows the webhook once Stripe has the money.
    An organisation that already pays through Stripe is sent to the portal to confirm the new price."""
    _require_manager(user, tenant_id)
    _require_configured()
    if not PLAN_CODE.fullmatch(plan_code or ""):
        raise NotFound("No such plan.")
    plan = plan_by_code(plan_code)
    if not plan.is_active:
        raise PaymentsUnavailable(f"The {plan.name} plan is not offered any more.")
    if not plan.stripe_price_id:
        raise PaymentsUnavailable(f"The {plan.name} plan cannot be bought online: it has no Stripe price yet. "
                                  "An administrator sets it at /admin/plans.")
    subscription = current_subscription(tenant_id)
    if subscription.processor == "stripe" and subscription.processor_subscription_id:
        if subscription.plan_id == plan.id:
            raise PaymentsUnavailable(f"This organisation is on the {plan.name} plan already.")
        return _change_paid_plan(tenant_id, subscription, plan.stripe_price_id)
    metadata = {"tenant_id": str(tenant_id), "plan_code": plan.code}
    params = {
        "mode": "subscription",
        "line_items": [{"price": plan.stripe_price_id, "quantity": 1}],
        "client_reference_id": str(tenant_id),
        "metadata": metadata,
        "subscription_data": {"metadata": metadata},
        "success_url": billing_page_url(tenant_id, checkout="success"),
        "cancel_url": billing_page_url(tenant_id, checkout="cancelled"),
    }
    customer = stripe_customer_id(tenant_id)
    if customer:
        params["customer"] = customer
    elif getattr(user, "email", None):
        params["customer_email"] = user.email
    session = _call(lambda client: client.v1.checkout.sessions.create(params=params))
    if not session.url:
        raise PaymentProviderError("Stripe did not return a checkout page. Try again in a moment.")
    return session.url


def _change_paid_plan(tenant_id: uuid.UUID, subscription: TenantSubscription, price_id: str) -> str:
    """An organisation already paying through Stripe changes plan on Stripe's portal, on the page that
    confirms the new price for its subscription (a second Checkout would start a second subscription).
    The plan follows when Stripe's customer.subscription.updated webhook arrives."""
    stripe_id, customer = subscription.processor_subscription_id, subscription.processor_customer_id
    current = _call(lambda client: client.v1.subscriptions.retrieve(stripe_id))
    items = current.to_dict().get("items", {}).get("data") or []
    if not items or not customer:
        raise PaymentsUnavailable("This organisation's Stripe subscription cannot be changed here: use "
                                  "Manage payment.")
    params = {
        "customer": customer,
        "return_url": billing_page_url(tenant_id),
        "flow_data": {
            "type": "subscription_update_confirm",
            "subscription_update_confirm": {"subscription": stripe_id,
                                            "items": [{"id": items[0]["id"], "price": price_id, "quantity": 1}]},
            "after_completion": {"type": "redirect",
                                 "redirect": {"return_url": billing_page_url(tenant_id, checkout="success")}},
        },
    }
    return _call(lambda client: client.v1.billing_portal.sessions.create(params=params)).url


def open_portal(user, tenant_id: uuid.UUID) -> str:
    """Create a Billing Portal Session for the organisation's Stripe customer; returns its URL."""
    _require_manager(user, tenant_id)
    _require_configured()
    customer = stripe_customer_id(tenant_id)
    if not customer:
        raise PaymentsUnavailable("This organisation has no payment details at Stripe yet: upgrade first.")
    params = {"customer": customer, "return_url": billing_page_url(tenant_id)}
    session = _call(lambda client: client.v1.billing_portal.sessions.create(params=params))
    return session.url


def retrieve_subscription(subscription_id: str) -> dict:
    """Stripe's current view of a subscription, as plain JSON data (raises stripe.StripeError)."""
    with stripe_client() as client:
        return client.v1.subscriptions.retrieve(subscription_id).to_dict()


def _call(request):
    """Run one API call; Stripe's errors become a message for the person (the detail goes to the log)."""
    try:
        with stripe_client() as client:
            return request(client)
    except stripe.StripeError as error:
        current_app.logger.warning("Stripe call failed: %s", error)
        raise PaymentProviderError("Stripe could not be reached or refused the request. Try again in a "
                                   "moment.") from error
