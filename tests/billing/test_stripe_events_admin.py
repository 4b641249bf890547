"""Stripe events Studio cannot store as sent or has nothing to apply to: an event with text PostgreSQL
refuses (NUL) is stored cleaned and applied, not a 500 Stripe would retry for days; an event for a
customer that is not ours is ignored at once with the reason, not retried until it fails; and a site
admin sees the failed and ignored events at /admin/stripe-events."""
from __future__ import annotations

import json
import time

import pytest
import stripe
from sqlalchemy import func, select

from app.billing import stripe_dispatch
from app.billing.models import StripeEvent, StripeEventDispatch
from app.extensions import db
from tests.billing import stripe_support
from tests.billing.stripe_support import (
    TEAM_PRICE,
    WEBHOOK,
    WEBHOOK_SECRET,
    deliver,
    invoice_count,
    organisation_of,
    plan_code,
    run_jobs,
)
from tests.factories import make_user
from tests.fakes.stripe_server import event_object, invoice_object, subscription_object

stripe_server, fake_stripe = stripe_support.stripe_server, stripe_support.fake_stripe
stripe_app = stripe_support.stripe_app


def _deliver_raw(client, body: str):
    """POST a body exactly as written, signed by the stripe SDK itself."""
    header = stripe.WebhookSignature.generate_signature_header(body, WEBHOOK_SECRET, int(time.time()))
    return client.post(WEBHOOK, data=body.encode(), headers={"Stripe-Signature": header,
                                                             "Content-Type": "application/json"})


def _events() -> list[StripeEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(StripeEvent).order_by(StripeEvent.received_at)))


@pytest.mark.postgres
def test_a_signed_event_with_nul_and_lone_surrogates_is_stored_cleaned_and_applied(stripe_app, client):
    tenant = organisation_of(make_user())
    subscription = subscription_object(price_id=TEAM_PRICE, metadata={"tenant_id": str(tenant.id), "note": "NOTE"})
    event = event_object("customer.subscription.created", subscription)
    # JSON's own escapes, as Stripe would send a customer's text: PostgreSQL's JSONB refuses \u0000.
    body = json.dumps(event).replace('"NOTE"', '"a\\u0000b \\ud800c"').replace(
        '"tenant_id"', '"key\\u0000": "v", "tenant_id"')

    first, again = _deliver_raw(client, body), _deliver_raw(client, body)

    assert first.status_code == 200 and first.get_json() == {"received": True, "duplicate": False}
    assert again.status_code == 200 and again.get_json()["duplicate"] is True  # stored once, not retried
    (stored,) = _events()
    metadata = stored.payload["data"]["object"]["metadata"]
    assert metadata["note"] == "ab ?c" and metadata["key"] == "v"
    run_jobs()
    assert plan_code(tenant) == "team"


def test_an_invoice_for_a_customer_no_organisation_has_is_ignored_at_once_with_the_reason(stripe_app, client):
    deliver(client, event_object("invoice.paid", invoice_object(customer="cus_someone_elses",
                                                                subscription="sub_someone_elses")))
    assert run_jobs() == 1

    (event,) = _events()
    dispatch = db.session.scalar(select(StripeEventDispatch))
    assert event.processing_outcome == "ignored" and "cus_someone_elses" in event.processing_error
    assert (dispatch.status, dispatch.attempts, dispatch.next_retry_at) == ("skipped", 1, None)
    assert "belongs to no organisation here" in dispatch.last_error
    assert run_jobs() == 0  # nothing left to retry
    assert db.session.scalar(select(func.count(StripeEventDispatch.id)).where(
        StripeEventDispatch.status == "failed")) == 0


def test_a_subscription_of_an_unknown_customer_is_ignored_and_ours_still_applies(stripe_app, client):
    tenant = organisation_of(make_user())
    deliver(client, event_object("customer.subscription.updated",
                                 subscription_object(customer="cus_stranger", price_id=TEAM_PRICE)))
    deliver(client, event_object("customer.subscription.created",
                                 subscription_object(price_id=TEAM_PRICE, metadata={"tenant_id": str(tenant.id)})))
    run_jobs()
    outcomes = {event.event_type: event.processing_outcome for event in _events()}
    assert outcomes == {"customer.subscription.updated": "ignored", "customer.subscription.created": "processed"}
    assert plan_code(tenant) == "team" and invoice_count(tenant) == 0


def _failed_and_ignored(client, stripe_app, count: int = 1) -> None:
    stripe_app.config["STRIPE_DISPATCH_MAX_ATTEMPTS"] = 1
    tenant = organisation_of(make_user())
    for _ in range(count):
        deliver(client, event_object("customer.subscription.created", subscription_object(
            price_id="price_nobody_sells", metadata={"tenant_id": str(tenant.id)})))
    deliver(client, event_object("<script>alert(1)</script>", {"id": "x", "object": "thing"}))
    deliver(client, event_object("invoice.paid", invoice_object(customer="cus_stranger")))
    run_jobs()


def test_a_site_admin_sees_failed_and_ignored_events_with_their_reasons(stripe_app, client, login_as):
    _failed_and_ignored(client, stripe_app)
    admin = login_as("admin")

    failed = admin.get("/admin/stripe-events").get_data(as_text=True)
    ignored = admin.get("/admin/stripe-events?show=ignored").get_data(as_text=True)

    assert "Failed (1)" in failed and "Ignored (2)" in failed
    assert "customer.subscription.created" in failed and "price_nobody_sells" in failed
    assert "cus_stranger" not in failed
    assert "cus_stranger" in ignored and "Studio does not act on this type of event" in ignored
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in ignored and "<script>alert(1)" not in ignored
    assert 'href="/admin/stripe-events"' in admin.get("/admin/plans").get_data(as_text=True)


def test_the_events_list_is_paged(stripe_app, client, login_as, monkeypatch):
    monkeypatch.setattr(stripe_dispatch, "EVENTS_PER_PAGE", 2)
    _failed_and_ignored(client, stripe_app, count=3)
    admin = login_as("admin")
    first = admin.get("/admin/stripe-events").get_data(as_text=True)
    second = admin.get("/admin/stripe-events?show=failed&page=2").get_data(as_text=True)
    assert first.count("price_nobody_sells") == 2 and "page=2" in first
    assert second.count("price_nobody_sells") == 1 and "Page 2" in second
    fragment = admin.get("/admin/stripe-events?page=2", headers={"HX-Request": "true",
                                                                 "HX-Target": "stripe-events"})
    assert fragment.get_data(as_text=True).lstrip().startswith('<div id="stripe-events">')


def test_only_site_admins_see_stripe_events(stripe_app, client, login_as):
    _failed_and_ignored(client, stripe_app)
    for role in ("user", "moderator"):
        response = login_as(role).get("/admin/stripe-events?show=ignored")
        assert response.status_code == 403 and "cus_stranger" not in response.get_data(as_text=True)
    assert client.get("/admin/stripe-events").status_code in (302, 303)
