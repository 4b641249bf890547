"""Upgrading through Stripe Checkout and opening the customer portal: only an organisation's owners and
admins (and site admins) may; the SDK sends Stripe what it needs; and coming back from Checkout
changes nothing until Stripe's webhook says the subscription is paid."""
from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import stripe
from sqlalchemy import select

from app.billing.models import BillingPlan, TenantSubscription
from app.billing.subscriptions import change_plan, plan_by_code
from app.extensions import db
from tests.billing import stripe_support
from tests.billing.stripe_support import (
    TEAM_PRICE,
    add_member,
    deliver,
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
    checkout_session_object,
    event_object,
    subscription_object,
)

# The fixtures this module uses.
stripe_server, fake_stripe = stripe_support.stripe_server, stripe_support.fake_stripe
stripe_app = stripe_support.stripe_app

CHECKOUT, PORTAL = "/billing/checkout", "/billing/portal"


def stripe_url(response) -> str:
    """Where the answer sends the browser: the page that moves on to Stripe by itself (a 303 would be
    blocked by the CSP's form-action), or HX-Redirect for htmx."""
    if "HX-Redirect" in response.headers:
        return response.headers["HX-Redirect"]
    html = response.get_data(as_text=True)
    refresh = re.search(r'<meta http-equiv="refresh" content="0; url=([^"]+)">', html)
    link = re.search(r'<a class="button button-primary" href="([^"]+)"[^>]*>Continue to Stripe</a>', html)
    assert refresh and link and refresh.group(1) == link.group(1), html[:500]
    return unescape(link.group(1))


def sessions_created(fake):
    return fake.requests_to("POST", "/v1/checkout/sessions")


def test_checkout_then_the_webhook_moves_the_organisation_to_team(stripe_app, login_as, fake_stripe, client):
    owner = login_as()
    tenant = organisation_of(owner.user)

    response = owner.post(CHECKOUT, {"tenant_id": str(tenant.id), "plan_code": "team"})

    assert response.status_code == 200
    [sent] = sessions_created(fake_stripe)
    assert stripe_url(response) == f"https://checkout.stripe.com/c/pay/{sent_session_id(response)}"
    params = sent.params
    assert params["mode"] == "subscription"
    assert params["line_items"] == [{"price": TEAM_PRICE, "quantity": "1"}]
    assert params["client_reference_id"] == str(tenant.id)
    assert params["metadata"] == {"tenant_id": str(tenant.id), "plan_code": "team"}
    assert params["subscription_data"]["metadata"] == {"tenant_id": str(tenant.id), "plan_code": "team"}
    assert params["customer_email"] == owner.user.email and "customer" not in params
    success = urlsplit(params["success_url"])
    assert (success.scheme + "://" + success.netloc, success.path) == ("http://localhost:5000", "/billing")
    assert parse_qs(success.query) == {"org": [str(tenant.id)], "checkout": ["success"]}
    assert parse_qs(urlsplit(params["cancel_url"]).query)["checkout"] == ["cancelled"]
    assert sent.headers["authorization"] == f"Bearer {stripe_support.SECRET_KEY}"

    # Coming back to the success URL without any webhook changes nothing.
    came_back = owner.get(f"/billing?org={tenant.id}&checkout=success")
    assert came_back.status_code == 200 and "the plan below changes once Stripe tells Studio" in came_back.text
    assert plan_code(tenant) == "free" and stripe_rows(tenant) == [] and plan_changes(tenant) == []

    # Stripe's webhook names the session; the handler reads the subscription from the API.
    subscription = subscription_object(customer="cus_testPaidFAKE", price_id=TEAM_PRICE,
                                       metadata={"tenant_id": str(tenant.id), "plan_code": "team"})
    fake_stripe.subscriptions[subscription["id"]] = subscription
    session = {**sent_session(fake_stripe, response), "status": "complete", "payment_status": "paid",
               "customer": "cus_testPaidFAKE", "subscription": subscription["id"], "url": None}
    assert deliver(client, event_object("checkout.session.completed", session)).status_code == 200
    assert plan_code(tenant) == "free"  # not in the request: the job applies it
    run_jobs()

    assert plan_code(tenant) == "team"
    [row] = stripe_rows(tenant)
    assert (row.processor_customer_id, row.processor_subscription_id) == ("cus_testPaidFAKE", subscription["id"])
    assert row.current_period_end.timestamp() == PERIOD_END and row.current_period_start.timestamp() == PERIOD_START
    assert fake_stripe.requests_to("GET", f"/v1/subscriptions/{subscription['id']}")
    [change] = plan_changes(tenant)
    assert change.user_id is None and change.changes["after"]["plan"] == "team"
    assert change.changes["after"]["reason"].startswith("stripe:evt_")
    # Each call had its own client: nothing was left on the stripe module for other apps to pick up.
    assert stripe.api_key is None and stripe.api_base == "https://api.stripe.com"


def sent_session_id(response) -> str:
    return stripe_url(response).rsplit("/", 1)[1]


def sent_session(fake, response) -> dict:
    """The session the fake answered, rebuilt from what the app was sent."""
    params = sessions_created(fake)[-1].params
    return checkout_session_object(session_id=sent_session_id(response),
                                   client_reference_id=params["client_reference_id"], metadata=params["metadata"],
                                   success_url=params["success_url"], cancel_url=params["cancel_url"])


def test_an_htmx_checkout_answers_hx_redirect(stripe_app, login_as, fake_stripe):
    owner = login_as()
    tenant = organisation_of(owner.user)
    response = owner.post(CHECKOUT, {"tenant_id": str(tenant.id), "plan_code": "enterprise"}, htmx=True)
    assert response.headers["HX-Redirect"].startswith("https://checkout.stripe.com/c/pay/cs_test")
    assert sessions_created(fake_stripe)[0].params["line_items"][0]["price"] == stripe_support.ENTERPRISE_PRICE


def test_a_known_stripe_customer_is_reused(stripe_app, login_as, fake_stripe):
    owner = login_as()
    tenant = organisation_of(owner.user)
    change_plan(tenant.id, plan_by_code("free"), actor_id=None, processor_customer_id="cus_testKnownFAKE")
    db.session.commit()
    owner.post(CHECKOUT, {"tenant_id": str(tenant.id), "plan_code": "team"})
    params = sessions_created(fake_stripe)[0].params
    assert params["customer"] == "cus_testKnownFAKE" and "customer_email" not in params


def test_an_organisation_admin_and_a_site_admin_may_check_out(stripe_app, login_as, fake_stripe):
    owner, admin, site_admin = make_user(), login_as(), login_as("admin")
    tenant = organisation_of(owner)
    add_member(tenant, admin.user, "admin")
    for person in (admin, site_admin):
        response = person.post(CHECKOUT, {"tenant_id": str(tenant.id), "plan_code": "team"})
        assert stripe_url(response).startswith("https://checkout.stripe.com/")
    assert len(sessions_created(fake_stripe)) == 2


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_a_viewer_or_member_cannot_check_out(stripe_app, login_as, fake_stripe, role):
    owner, person = make_user(), login_as()
    tenant = organisation_of(owner)
    add_member(tenant, person.user, role)
    response = person.post(CHECKOUT, {"tenant_id": str(tenant.id), "plan_code": "team"})
    assert response.status_code == 403
    assert person.post(PORTAL, {"tenant_id": str(tenant.id)}).status_code == 403
    assert fake_stripe.requests == [] and plan_code(tenant) == "free"


@pytest.mark.parametrize("tenant_id", ["another", "00000000-0000-7000-8000-000000000000", "not-a-uuid", ""])
def test_another_or_no_organisation_is_not_found(stripe_app, login_as, fake_stripe, tenant_id):
    person = login_as()
    organisation_of(person.user)
    if tenant_id == "another":
        tenant_id = str(organisation_of(make_user()).id)
    assert person.post(CHECKOUT, {"tenant_id": tenant_id, "plan_code": "team"}).status_code == 404
    assert person.post(PORTAL, {"tenant_id": tenant_id}).status_code == 404
    assert fake_stripe.requests == []


@pytest.mark.postgres
@pytest.mark.parametrize("value", ["team\x00", "x" * 5000, "<script>alert(1)</script>"])
def test_crafted_form_values_are_a_plain_refusal(stripe_app, login_as, fake_stripe, value):
    owner = login_as()
    tenant = organisation_of(owner.user)
    assert owner.post(CHECKOUT, {"tenant_id": str(tenant.id), "plan_code": value}).status_code == 404
    assert owner.post(CHECKOUT, {"tenant_id": value, "plan_code": "team"}).status_code == 404
    assert owner.post(PORTAL, {"tenant_id": value}).status_code == 404
    assert fake_stripe.requests == []


def test_checkout_without_csrf_is_refused(stripe_app, login_as, fake_stripe):
    owner = login_as()
    tenant = organisation_of(owner.user)
    response = owner.client.post(CHECKOUT, data={"tenant_id": str(tenant.id), "plan_code": "team"})
    assert response.status_code == 400
    assert owner.client.post(PORTAL, data={"tenant_id": str(tenant.id)}).status_code == 400
    assert fake_stripe.requests == []


def test_signed_out_checkout_goes_to_sign_in(stripe_app, client, fake_stripe):
    tenant = organisation_of(make_user())
    response = client.post(CHECKOUT, data={"tenant_id": str(tenant.id), "plan_code": "team"})
    assert response.status_code in (302, 400) and fake_stripe.requests == []


def test_a_plan_without_a_stripe_price_says_so(stripe_app, login_as, fake_stripe):
    owner = login_as()
    tenant = organisation_of(owner.user)
    db.session.scalar(select(BillingPlan).where(BillingPlan.code == "team")).stripe_price_id = None
    db.session.commit()
    response = owner.post(CHECKOUT, {"tenant_id": str(tenant.id), "plan_code": "team"})
    assert response.status_code == 409
    assert "has no Stripe price yet" in response.get_data(as_text=True)
    assert owner.post(CHECKOUT, {"tenant_id": str(tenant.id), "plan_code": "gold"}).status_code == 404
    assert fake_stripe.requests == []


def test_an_organisation_already_paying_changes_plan_on_the_portal_not_a_second_checkout(stripe_app, login_as,
                                                                                         fake_stripe):
    owner = login_as()
    tenant = organisation_of(owner.user)
    subscription = subscription_object(customer="cus_testPayingFAKE", price_id=TEAM_PRICE)
    fake_stripe.subscriptions[subscription["id"]] = subscription
    change_plan(tenant.id, plan_by_code("team"), actor_id=None, processor="stripe",
                processor_customer_id="cus_testPayingFAKE", processor_subscription_id=subscription["id"])
    db.session.commit()

    response = owner.post(CHECKOUT, {"tenant_id": str(tenant.id), "plan_code": "enterprise"})

    assert stripe_url(response).startswith("https://billing.stripe.com/p/session/")
    assert sessions_created(fake_stripe) == []
    [sent] = fake_stripe.requests_to("POST", "/v1/billing_portal/sessions")
    assert sent.params["customer"] == "cus_testPayingFAKE"
    flow = sent.params["flow_data"]
    assert flow["type"] == "subscription_update_confirm"
    assert flow["subscription_update_confirm"] == {
        "subscription": subscription["id"],
        "items": [{"id": subscription["items"]["data"][0]["id"], "price": stripe_support.ENTERPRISE_PRICE,
                   "quantity": "1"}]}
    assert plan_code(tenant) == "team"  # until Stripe's customer.subscription.updated arrives
    same = owner.post(CHECKOUT, {"tenant_id": str(tenant.id), "plan_code": "team"})
    assert same.status_code == 409 and "on the Team plan already" in same.get_data(as_text=True)


def test_without_stripe_keys_checkout_explains_and_the_manual_path_stays(app, login_as):
    owner = login_as()
    tenant = organisation_of(owner.user)
    response = owner.post(CHECKOUT, {"tenant_id": str(tenant.id), "plan_code": "team"})
    assert response.status_code == 409
    assert "Online payment is not set up on this server" in response.get_data(as_text=True)
    assert owner.post(PORTAL, {"tenant_id": str(tenant.id)}).status_code == 409
    # An administrator still assigns plans by hand (the manual processor).
    change_plan(tenant.id, plan_by_code("team"), actor_id=None)
    db.session.commit()
    assert plan_code(tenant) == "team"


def test_stripe_down_is_a_message_not_a_500(stripe_app, login_as, fake_stripe):
    owner = login_as()
    tenant = organisation_of(owner.user)
    fake_stripe.failures.append(500)
    response = owner.post(CHECKOUT, {"tenant_id": str(tenant.id), "plan_code": "team"})
    assert response.status_code == 502
    assert "Stripe could not be reached" in response.get_data(as_text=True)
    assert plan_code(tenant) == "free"


def test_the_portal_opens_for_the_organisations_stripe_customer(stripe_app, login_as, fake_stripe):
    owner = login_as()
    tenant = organisation_of(owner.user)
    assert owner.post(PORTAL, {"tenant_id": str(tenant.id)}).status_code == 409  # no customer yet
    change_plan(tenant.id, plan_by_code("team"), actor_id=None, processor="stripe",
                processor_customer_id="cus_testPortalFAKE", processor_subscription_id="sub_testPortalFAKE")
    db.session.commit()

    response = owner.post(PORTAL, {"tenant_id": str(tenant.id)})

    assert response.status_code == 200
    assert stripe_url(response).startswith("https://billing.stripe.com/p/session/test_bps_")
    [sent] = fake_stripe.requests_to("POST", "/v1/billing_portal/sessions")
    assert sent.params["customer"] == "cus_testPortalFAKE"
    assert parse_qs(urlsplit(sent.params["return_url"]).query) == {"org": [str(tenant.id)]}
    assert db.session.scalar(select(TenantSubscription.processor).where(
        TenantSubscription.tenant_id == tenant.id, TenantSubscription.status == "active")) == "stripe"
