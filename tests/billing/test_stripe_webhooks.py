"""Stripe's webhook: only correctly signed, fresh events are taken; each is stored once and applied
once by the job runner, with retries and backoff when a handler fails."""
from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import stripe
from sqlalchemy import func, select, update

from app.billing.models import StripeEvent, StripeEventDispatch, SubscriptionInvoice, TenantSubscription
from app.billing.subscriptions import change_plan, plan_by_code
from app.extensions import db
from app.jobs import runner
from app.jobs.models import Job
from app.models.base import utcnow
from tests.billing import stripe_support
from tests.billing.stripe_support import (
    ENTERPRISE_PRICE,
    TEAM_PRICE,
    WEBHOOK,
    WEBHOOK_SECRET,
    deliver,
    invoice_count,
    organisation_of,
    plan_changes,
    plan_code,
    run_jobs,
    stripe_rows,
)
from tests.factories import make_user
from tests.fakes.stripe_server import (
    PERIOD_END,
    PERIOD_START,
    event_object,
    invoice_object,
    signature_header,
    signed,
    subscription_object,
)

# The fixtures this module uses.
stripe_server, fake_stripe = stripe_support.stripe_server, stripe_support.fake_stripe
stripe_app = stripe_support.stripe_app


def subscription_event(tenant, event_type: str = "customer.subscription.created", **fields) -> dict:
    fields.setdefault("metadata", {"tenant_id": str(tenant.id), "plan_code": "team"})
    fields.setdefault("price_id", TEAM_PRICE)
    return event_object(event_type, subscription_object(**fields))


def stored_events() -> int:
    return db.session.scalar(select(func.count(StripeEvent.id)))


def jobs() -> list[Job]:
    return list(db.session.scalars(select(Job).where(Job.kind == "stripe_dispatch")))


# --- only Stripe's signature opens the door ---------------------------------------------------------

def _unsigned(event):
    return json.dumps(event).encode(), {"Content-Type": "application/json"}


def _tampered(event):
    body, headers = signed(event, WEBHOOK_SECRET)
    return body.replace(b'"price_test_team"', b'"price_test_enterprise"'), headers


def _wrong_secret(event):
    return signed(event, "whsec_someone_else")


def _stale(event):
    return signed(event, WEBHOOK_SECRET, timestamp=int(time.time()) - 301)  # tolerance: 300 s


def _garbage_header(event):
    return json.dumps(event).encode(), {"Stripe-Signature": "t=abc,v1=", "Content-Type": "application/json"}


@pytest.mark.parametrize("forge", [_unsigned, _tampered, _wrong_secret, _stale, _garbage_header],
                         ids=["unsigned", "tampered", "wrong-secret", "stale", "garbage-header"])
def test_a_webhook_not_signed_by_stripe_now_is_refused_and_changes_nothing(stripe_app, client, forge):
    tenant = organisation_of(make_user())
    body, headers = forge(subscription_event(tenant))

    response = client.post(WEBHOOK, data=body, headers=headers)

    assert response.status_code == 400
    assert stored_events() == 0 and jobs() == []
    assert run_jobs() == 0
    assert plan_code(tenant) == "free" and stripe_rows(tenant) == []


def test_a_correct_signature_just_inside_the_tolerance_is_taken(stripe_app, client):
    tenant = organisation_of(make_user())
    response = deliver(client, subscription_event(tenant), timestamp=int(time.time()) - 290)
    assert response.status_code == 200 and stored_events() == 1


def test_a_body_that_is_not_utf8_or_json_is_a_400_not_a_500(stripe_app, client):
    for body in (b"\xff\xfe\x00garbage", b"not json at all", b"[1, 2]"):
        headers = {"Stripe-Signature": signature_header(body, WEBHOOK_SECRET)}
        assert client.post(WEBHOOK, data=body, headers=headers).status_code == 400
    assert stored_events() == 0


def test_without_stripe_configured_the_webhook_takes_nothing(app, client):
    event = event_object("customer.subscription.created", subscription_object())
    body, headers = signed(event, WEBHOOK_SECRET)
    response = client.post(WEBHOOK, data=body, headers=headers)
    assert response.status_code == 400 and stored_events() == 0


def test_our_signer_signs_as_stripes_sdk_does():
    payload = '{"id": "evt_1", "object": "event"}'
    assert signature_header(payload, "whsec_x", 1_700_000_000) == \
        stripe.WebhookSignature.generate_signature_header(payload, "whsec_x", 1_700_000_000)


# --- stored once, applied once -----------------------------------------------------------------------

@pytest.mark.postgres
def test_the_same_event_twice_has_one_effect(stripe_app, client):
    tenant = organisation_of(make_user())
    event = subscription_event(tenant)

    first, second = deliver(client, event), deliver(client, event)

    assert first.status_code == second.status_code == 200
    assert second.get_json()["duplicate"] is True
    assert stored_events() == 1 and len(jobs()) == 1
    assert run_jobs() == 1
    assert deliver(client, event).status_code == 200 and run_jobs() == 0  # after it was applied, too
    assert plan_code(tenant) == "team"
    assert len(stripe_rows(tenant)) == 1
    changes = plan_changes(tenant)
    assert len(changes) == 1
    assert changes[0].user_id is None
    assert changes[0].changes["before"]["plan"] == "free"
    assert changes[0].changes["after"] == {"plan": "team", "status": "active", "processor": "stripe",
                                           "reason": f"stripe:{event['id']}"}


@pytest.mark.postgres
def test_two_deliveries_of_one_event_at_once_have_one_effect(stripe_app):
    tenant = organisation_of(make_user())
    event = subscription_event(tenant)
    body, headers = signed(event, WEBHOOK_SECRET)
    barrier, statuses = threading.Barrier(2), []

    def post():
        with stripe_app.app_context():
            client = stripe_app.test_client()
            barrier.wait()
            statuses.append(client.post(WEBHOOK, data=body, headers=headers).status_code)
            db.session.remove()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert statuses == [200, 200]
    db.session.expire_all()
    assert stored_events() == 1
    assert db.session.scalar(select(func.count(StripeEventDispatch.id))) == 1
    assert len(jobs()) == 1
    run_jobs()
    assert plan_code(tenant) == "team" and len(stripe_rows(tenant)) == 1 and len(plan_changes(tenant)) == 1


@pytest.mark.postgres
def test_an_invoice_paid_twice_is_one_paid_invoice_the_organisation_sees(stripe_app, client, login_as):
    owner = login_as()
    tenant = organisation_of(owner.user)
    subscription = subscription_event(tenant)["data"]["object"]
    deliver(client, event_object("customer.subscription.created", subscription))
    run_jobs()
    invoice = invoice_object(subscription=subscription["id"], customer=subscription["customer"],
                             number="STUDIO1-0001", amount=4900)
    event = event_object("invoice.paid", invoice)

    assert deliver(client, event).status_code == 200
    assert deliver(client, event).status_code == 200
    run_jobs()

    assert invoice_count(tenant) == 1
    row = db.session.scalar(select(SubscriptionInvoice).where(SubscriptionInvoice.tenant_id == tenant.id))
    assert (row.number, row.status, row.amount_cents, row.currency) == ("STUDIO1-0001", "paid", 4900, "USD")
    assert row.external_invoice_id == invoice["id"]
    assert row.hosted_invoice_url == invoice["hosted_invoice_url"]
    assert row.paid_at == datetime.fromtimestamp(PERIOD_START + 60, UTC)
    assert (row.period_start, row.period_end) == (datetime.fromtimestamp(PERIOD_START, UTC),
                                                  datetime.fromtimestamp(PERIOD_END, UTC))
    page = owner.get(f"/billing?org={tenant.id}")
    assert page.status_code == 200 and "STUDIO1-0001" in page.get_data(as_text=True)
    stranger = login_as()
    assert stranger.get(f"/billing?org={tenant.id}").status_code == 404


def test_a_finalized_invoice_arriving_after_paid_stays_paid(stripe_app, client):
    tenant = organisation_of(make_user())
    subscription = subscription_event(tenant)["data"]["object"]
    deliver(client, event_object("customer.subscription.created", subscription))
    paid = invoice_object(subscription=subscription["id"], subscription_on_parent=False)  # the older shape
    deliver(client, event_object("invoice.paid", paid))
    deliver(client, event_object("invoice.finalized", {**paid, "status": "open", "amount_paid": 0}))
    run_jobs()
    row = db.session.scalar(select(SubscriptionInvoice).where(SubscriptionInvoice.external_invoice_id == paid["id"]))
    assert row.status == "paid" and row.amount_cents == 4900 and len(row.number) <= 32


def test_a_failed_payment_makes_the_subscription_past_due_and_records_the_invoice(stripe_app, client):
    tenant = organisation_of(make_user())
    subscription = subscription_event(tenant)["data"]["object"]
    deliver(client, event_object("customer.subscription.created", subscription))
    failed = invoice_object(subscription=subscription["id"], status="open")
    deliver(client, event_object("invoice.payment_failed", failed))
    run_jobs()
    rows = stripe_rows(tenant)
    assert len(rows) == 1 and rows[0].status == "past_due"
    assert plan_code(tenant) == "team"  # still Team while Stripe retries the payment
    invoice = db.session.scalar(select(SubscriptionInvoice).where(SubscriptionInvoice.tenant_id == tenant.id))
    assert invoice.status == "open" and invoice.paid_at is None


# --- what each event does --------------------------------------------------------------------------

@pytest.mark.parametrize("period_on_items", [True, False], ids=["items-period", "subscription-period"])
def test_an_update_for_the_same_plan_refreshes_the_period_in_place(stripe_app, client, period_on_items):
    tenant = organisation_of(make_user())
    created = subscription_event(tenant, period_on_items=period_on_items)
    subscription = created["data"]["object"]
    deliver(client, created)
    run_jobs()
    next_period = (PERIOD_END, PERIOD_END + 30 * 86400)
    renewed = subscription_object(subscription_id=subscription["id"], price_id=TEAM_PRICE, period=next_period,
                                  metadata=subscription["metadata"], period_on_items=period_on_items)
    renewed.update(cancel_at_period_end=True, cancel_at=next_period[1])  # cancelled in the portal: ends then

    deliver(client, event_object("customer.subscription.updated", renewed))
    run_jobs()

    rows = stripe_rows(tenant)
    assert len(rows) == 1 and len(plan_changes(tenant)) == 1
    assert (rows[0].current_period_start, rows[0].current_period_end) == tuple(
        datetime.fromtimestamp(moment, UTC) for moment in next_period)
    assert rows[0].cancel_at == datetime.fromtimestamp(next_period[1], UTC) and rows[0].auto_renew is False
    assert rows[0].status == "active" and plan_code(tenant) == "team"  # until Stripe deletes it


def test_an_update_to_another_price_changes_the_plan(stripe_app, client):
    tenant = organisation_of(make_user())
    created = subscription_event(tenant)
    deliver(client, created)
    subscription = created["data"]["object"]
    upgraded = subscription_object(subscription_id=subscription["id"], price_id=ENTERPRISE_PRICE,
                                   metadata=subscription["metadata"])
    deliver(client, event_object("customer.subscription.updated", upgraded))
    run_jobs()
    assert plan_code(tenant) == "enterprise"
    assert [change.changes["after"]["plan"] for change in plan_changes(tenant)] == ["team", "enterprise"]


def test_an_older_event_arriving_late_does_not_undo_a_newer_one(stripe_app, client):
    tenant = organisation_of(make_user())
    metadata = {"tenant_id": str(tenant.id)}
    subscription = subscription_object(price_id=TEAM_PRICE, metadata=metadata)
    now = int(time.time())
    newer = subscription_object(subscription_id=subscription["id"], price_id=ENTERPRISE_PRICE, metadata=metadata)
    deliver(client, event_object("customer.subscription.updated", newer, created=now))
    deliver(client, event_object("customer.subscription.created", subscription, created=now - 30))
    run_jobs()
    assert plan_code(tenant) == "enterprise"


def test_a_deleted_subscription_puts_the_organisation_back_on_free(stripe_app, client):
    tenant = organisation_of(make_user())
    created = subscription_event(tenant)
    deliver(client, created)
    run_jobs()
    assert plan_code(tenant) == "team"
    subscription = created["data"]["object"]
    ended = subscription_object(subscription_id=subscription["id"], price_id=TEAM_PRICE, status="canceled",
                                metadata=subscription["metadata"])

    deliver(client, event_object("customer.subscription.deleted", ended))
    run_jobs()

    current = db.session.scalar(select(TenantSubscription).where(
        TenantSubscription.tenant_id == tenant.id, TenantSubscription.status == "active"))
    assert current.plan_id == plan_by_code("free").id and current.processor == "manual"
    assert current.processor_customer_id == subscription["customer"]  # kept for the portal and a new checkout
    assert [change.changes["after"]["plan"] for change in plan_changes(tenant)] == ["team", "free"]


def test_deleting_a_subscription_that_is_no_longer_current_changes_nothing(stripe_app, client):
    tenant = organisation_of(make_user())
    change_plan(tenant.id, plan_by_code("enterprise"), actor_id=None)  # an admin's assignment
    db.session.commit()
    old = subscription_object(price_id=TEAM_PRICE, status="canceled", metadata={"tenant_id": str(tenant.id)})
    deliver(client, event_object("customer.subscription.deleted", old))
    run_jobs()
    assert plan_code(tenant) == "enterprise"


def test_an_unknown_event_type_is_stored_and_ignored(stripe_app, client):
    event = event_object("customer.created", {"id": "cus_x", "object": "customer"})
    assert deliver(client, event).status_code == 200
    row = db.session.scalar(select(StripeEvent))
    assert (row.stripe_event_id, row.processing_outcome) == (event["id"], "ignored")
    assert jobs() == []


# --- failures are retried with backoff, and stay visible -----------------------------------------

def _make_due() -> None:
    """As if the backoff had passed."""
    db.session.execute(update(Job).where(Job.kind == "stripe_dispatch").values(run_after=utcnow()))
    db.session.commit()


def test_a_failing_handler_is_retried_after_a_backoff_and_then_applied(stripe_app, client, fake_stripe):
    tenant = organisation_of(make_user())
    subscription = subscription_object(price_id=TEAM_PRICE, metadata={"tenant_id": str(tenant.id)})
    fake_stripe.subscriptions[subscription["id"]] = subscription
    fake_stripe.failures.append(500)  # the API read of the first attempt fails
    session = {"id": "cs_test_retry", "object": "checkout.session", "mode": "subscription", "status": "complete",
               "client_reference_id": str(tenant.id), "customer": subscription["customer"],
               "subscription": subscription["id"], "metadata": {"tenant_id": str(tenant.id)}}
    deliver(client, event_object("checkout.session.completed", session))

    assert run_jobs() == 1
    dispatch = db.session.scalar(select(StripeEventDispatch))
    assert dispatch.status == "failed" and dispatch.attempts == 1 and "APIError" in dispatch.last_error
    assert dispatch.next_retry_at > utcnow() + timedelta(seconds=3)  # 5 s backoff
    job = jobs()[0]
    assert job.status == "queued" and job.run_after > utcnow()
    assert plan_code(tenant) == "free"
    assert run_jobs() == 0  # not before the backoff has passed

    _make_due()
    assert run_jobs() == 1
    dispatch = db.session.scalar(select(StripeEventDispatch))
    assert dispatch.status == "succeeded" and dispatch.attempts == 2 and dispatch.last_error is None
    assert db.session.scalar(select(StripeEvent)).processing_outcome == "processed"
    assert plan_code(tenant) == "team"
    assert len(fake_stripe.requests_to("GET", f"/v1/subscriptions/{subscription['id']}")) == 2


def test_a_handler_that_keeps_failing_stays_failed_and_visible(stripe_app, client):
    stripe_app.config["STRIPE_DISPATCH_MAX_ATTEMPTS"] = 2
    tenant = organisation_of(make_user())
    deliver(client, subscription_event(tenant, price_id="price_nobody_sells"))
    run_jobs()
    _make_due()
    run_jobs()
    _make_due()
    assert run_jobs() == 0
    dispatch = db.session.scalar(select(StripeEventDispatch))
    assert dispatch.status == "failed" and dispatch.attempts == 2 and dispatch.next_retry_at is None
    assert "price_nobody_sells" in dispatch.last_error
    event = db.session.scalar(select(StripeEvent))
    assert event.processing_outcome == "failed" and "price_nobody_sells" in event.processing_error
    assert jobs()[0].status == "failed"
    assert plan_code(tenant) == "free"


def test_an_invoice_before_its_subscription_is_linked_waits_for_it(stripe_app, client):
    tenant = organisation_of(make_user())
    created = subscription_event(tenant)
    subscription = created["data"]["object"]
    deliver(client, event_object("invoice.paid", invoice_object(subscription=subscription["id"],
                                                                customer=subscription["customer"],
                                                                subscription_metadata=subscription["metadata"])))
    run_jobs()
    assert invoice_count(tenant) == 0
    assert db.session.scalar(select(StripeEventDispatch)).status == "failed"

    deliver(client, created)
    run_jobs()
    _make_due()
    run_jobs()
    assert invoice_count(tenant) == 1


@pytest.mark.postgres
def test_two_events_of_one_upgrade_applied_by_two_workers_at_once_change_the_plan_once(stripe_app, client,
                                                                                        fake_stripe):
    tenant = organisation_of(make_user())
    created = subscription_event(tenant)
    subscription = created["data"]["object"]
    fake_stripe.subscriptions[subscription["id"]] = subscription
    session = {"id": "cs_test_twice", "object": "checkout.session", "mode": "subscription", "status": "complete",
               "client_reference_id": str(tenant.id), "customer": subscription["customer"],
               "subscription": subscription["id"]}
    deliver(client, created)
    deliver(client, event_object("checkout.session.completed", session))
    barrier, ran = threading.Barrier(2), []

    def work():
        with stripe_app.app_context():
            barrier.wait()
            ran.append(runner.run_pending(limit=1))
            db.session.remove()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    run_jobs()  # what the second worker did not get (SQLite: both may aim at the same job; one wins)

    assert sum(ran) >= 1
    assert plan_code(tenant) == "team" and len(stripe_rows(tenant)) == 1 and len(plan_changes(tenant)) == 1
    assert {dispatch.status for dispatch in db.session.scalars(select(StripeEventDispatch))} == {"succeeded"}
