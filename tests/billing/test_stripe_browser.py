"""The upgrade as a person clicks it in Chromium: "Move to Team" on /billing leads to Stripe's Checkout
(stubbed in the browser; the app talks to the fake Stripe), coming back says nothing changed yet, and
after Stripe's webhook the page shows Team."""
from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.billing import stripe_support
from tests.billing.stripe_support import TEAM_PRICE, WEBHOOK, WEBHOOK_SECRET, organisation_of, plan_code, run_jobs
from tests.factories import make_user
from tests.fakes.stripe_server import event_object, signed, subscription_object
from tests.helpers.browser import VIEWPORTS, assert_looks_right, sign_in

# The fixtures this module uses.
stripe_server, fake_stripe = stripe_support.stripe_server, stripe_support.fake_stripe
stripe_app = stripe_support.stripe_app

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.mark.browser
def test_an_owner_upgrades_through_checkout_and_the_webhook_moves_the_plan(stripe_app, live_server, browser,
                                                                           fake_stripe):
    SHOTS.mkdir(parents=True, exist_ok=True)
    owner = make_user()
    tenant = organisation_of(owner)
    context = browser.new_context(viewport=VIEWPORTS["desktop"])
    # Stripe's hosted page is not reachable from here: the browser gets a stand-in.
    for host in ("checkout.stripe.com", "billing.stripe.com"):
        context.route(f"https://{host}/**", lambda route: route.fulfill(
            status=200, content_type="text/html", body="<title>Stripe (stand-in)</title><p>Stripe's page</p>"))
    page = context.new_page()
    sign_in(page, live_server, owner.email)
    page.wait_for_url(lambda url: "/login" not in url)

    page.goto(f"{live_server}/billing?org={tenant.id}")
    page.screenshot(path=SHOTS / "billing-stripe-offer-desktop-light.png", full_page=True)
    page.get_by_role("button", name="Move to Team with Stripe").click()
    page.wait_for_url("https://checkout.stripe.com/c/pay/cs_test**")

    [sent] = fake_stripe.requests_to("POST", "/v1/checkout/sessions")
    assert sent.params["line_items"][0]["price"] == TEAM_PRICE
    assert sent.params["client_reference_id"] == str(tenant.id)
    page.goto(sent.params["success_url"].replace("http://localhost:5000", live_server))  # Stripe sends people back
    assert_looks_right(page)
    assert plan_code(tenant) == "free"  # back from Checkout, and nothing has changed

    subscription = subscription_object(price_id=TEAM_PRICE, metadata={"tenant_id": str(tenant.id)})
    fake_stripe.subscriptions[subscription["id"]] = subscription
    session = {"id": "cs_test_browser", "object": "checkout.session", "mode": "subscription", "status": "complete",
               "client_reference_id": str(tenant.id), "customer": subscription["customer"],
               "subscription": subscription["id"]}
    body, headers = signed(event_object("checkout.session.completed", session), WEBHOOK_SECRET)
    assert requests.post(live_server + WEBHOOK, data=body, headers=headers, timeout=10).status_code == 200
    run_jobs()

    page.goto(f"{live_server}/billing?org={tenant.id}")
    assert plan_code(tenant) == "team"
    assert_looks_right(page)
    page.screenshot(path=SHOTS / "billing-stripe-paid-desktop-light.png", full_page=True)
    page.get_by_role("button", name="Manage payment").click()
    page.wait_for_url("https://billing.stripe.com/p/session/**")
    [portal] = fake_stripe.requests_to("POST", "/v1/billing_portal/sessions")
    assert portal.params["customer"] == subscription["customer"]
    context.close()
