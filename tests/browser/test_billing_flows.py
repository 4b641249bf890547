"""Billing in Chromium: a person reaches their plan's limit and is told so when sending, an admin
raises it at /admin/plans and the person sends again; /billing and /admin/plans in light and dark,
desktop and phone, captured to test-artifacts/screenshots/billing-*.png and checked with axe."""
from __future__ import annotations

import random
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from app.billing import invoices, plans, subscriptions
from app.billing.plans import PlanValues
from app.chat import model_requests
from app.chat.models import ModelRequest
from app.extensions import db
from app.llm.base import Usage
from app.models.base import utcnow
from tests.billing.pages_support import make_organisation
from tests.browser.test_accessibility import serious_violations
from tests.browser.test_page_looks import SHOTS
from tests.factories import make_model, make_user
from tests.helpers.browser import VIEWPORTS, assert_looks_right, sign_in

pytestmark = pytest.mark.browser


def _send(page, text):
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_role("button", name="Send").click()


def _tiny_plan(admin_id, messages_per_day: int):
    limits = {"messages_per_day": (messages_per_day, None), "monthly_tokens": (1_000_000, 800_000)}
    plan = plans.create_plan(admin_id, "tiny", PlanValues(name="Tiny", price_cents=0, is_active=True,
                                                           stripe_price_id=None, sort_order=5, limits=limits))
    db.session.commit()
    return plan


def test_a_person_hits_the_limit_an_admin_raises_it_and_they_send_again(signed_in_page, live_server):
    SHOTS.mkdir(parents=True, exist_ok=True)
    admin = make_user(role="admin", display_name="Ada Admin")
    person = make_user(display_name="Pat Person")
    tenant = subscriptions.personal_organisation(person.id, person.email)
    plan = _tiny_plan(admin.id, messages_per_day=1)
    plans.assign_plan(admin.id, tenant.id, plan.id)
    db.session.commit()

    page = signed_in_page(user=person)
    page.goto(f"{live_server}/chat")
    _send(page, "First question of the day")
    expect(page).to_have_url(re.compile(r".*/chat/[0-9a-f-]{36}$"))
    expect(page.locator(".message-assistant.is-complete")).to_be_visible(timeout=20000)

    _send(page, "Second question, over the limit")
    refusal = page.locator(".toast").filter(has_text="Sending is paused")
    expect(refusal).to_be_visible(timeout=10000)
    expect(refusal).to_contain_text("/billing")
    expect(page.get_by_label("Message", exact=True)).to_have_value("Second question, over the limit")
    assert page.locator(".message-assistant").count() == 1

    # /billing says so too, one click away from the refusal.
    refusal.get_by_role("link", name="Open billing").click()
    expect(page).to_have_url(re.compile(r".*/billing\?org=[0-9a-f-]{36}$"))
    limit = page.locator(".limit").filter(has_text="Messages today")
    expect(limit).to_contain_text("1 message of 1 message")
    expect(limit).to_contain_text("Limit reached")
    page.screenshot(path=SHOTS / "billing-limit-reached-desktop-light.png", full_page=True)

    admin_page = signed_in_page(user=admin)
    admin_page.goto(f"{live_server}/admin/plans")
    admin_page.get_by_role("link", name="Edit Tiny").click()
    admin_page.get_by_label("Messages per day: hard limit").fill("20")
    admin_page.get_by_label("Messages per day: warning at").fill("30")  # above the hard limit: refused
    admin_page.get_by_role("button", name="Save plan").click()
    expect(admin_page.get_by_text("The warning (soft limit) must not be above the hard limit.")).to_be_visible()
    expect(admin_page.get_by_label("Messages per day: hard limit")).to_have_value("20")
    admin_page.get_by_label("Messages per day: warning at").fill("15")
    admin_page.get_by_role("button", name="Save plan").click()
    expect(admin_page.locator(".toast").filter(has_text="Plan “Tiny” saved.")).to_be_visible()

    page.go_back()
    expect(page).to_have_url(re.compile(r".*/chat/[0-9a-f-]{36}$"))
    _send(page, "Second question, now allowed")
    expect(page.locator(".message-assistant.is-complete")).to_have_count(2, timeout=20000)
    expect(page.locator(".message-assistant").last).to_contain_text("Second question, now allowed")


def make_billing_world(admin) -> dict:
    """An organisation on Team with people in each role, usage on most days of the period, invoices
    paid and open; a second organisation with an overdue open invoice."""
    rng = random.Random(12)
    owner = make_user(display_name="Olivia Owner", email="olivia@example.org")
    people = [make_user(display_name=name) for name in ("Mia Member", "Val Viewer", "Adam Admin")]
    tenant = make_organisation("Northwind Research", members={"owner": [owner], "member": [people[0]],
                                                              "viewer": [people[1]], "admin": [people[2]]})
    plans.assign_plan(admin.id, tenant.id, subscriptions.plan_by_code("team").id)
    db.session.commit()
    subscription = subscriptions.current_subscription(tenant.id)
    # Earlier invoices, paid.
    for months in (1, 2):
        start = (subscription.current_period_start - timedelta(days=27 * months)).replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
        invoice = invoices.SubscriptionInvoice(
            subscription_id=subscription.id, tenant_id=tenant.id,
            number=invoices.invoice_number(start.year, 100 + months),
            period_start=start, period_end=end, amount_cents=4900, status="paid", paid_at=end, created_at=start)
        invoice.items = [invoices.InvoiceItem(position=1, description=f"Team plan, {invoices.period_label(start, end)}",
                                              quantity=1, unit_amount_cents=4900, amount_cents=4900)]
        db.session.add(invoice)
    model = make_model("GPT-4o", provider="openai", model_id="gpt-4o", prices=(2.5, 10, 1.25))
    now = utcnow()
    for days_ago in range((now - subscription.current_period_start).days + 1):
        for _ in range(rng.randint(0, 3)):
            at = now - timedelta(days=days_ago, minutes=rng.randint(0, 60))
            call = ModelRequest(user_id=rng.choice([owner, *people]).id, tenant_id=tenant.id, model_name="gpt-4o",
                                provider="openai", task_type="chat", status="success", requested_at=at)
            model_requests.record(call, Usage(rng.randint(2_000, 60_000), rng.randint(500, 8_000)), model,
                                  at=at + timedelta(seconds=2))
    other = make_organisation("Globex <script>alert(1)</script> Holdings with a very long name indeed")
    plans.assign_plan(admin.id, other.id, subscriptions.plan_by_code("enterprise").id)
    db.session.commit()
    return {"owner": owner, "tenant": tenant}


def test_billing_pages_fit_are_captured_and_pass_axe(browser, signed_in_page, live_server):
    SHOTS.mkdir(parents=True, exist_ok=True)
    admin = make_user(role="admin", display_name="Ada Admin", email="ada@example.org")
    world = make_billing_world(admin)
    tenant = world["tenant"]
    first_invoice = invoices.invoices_of(tenant.id, 1)[0][0]
    owner = signed_in_page(user=world["owner"])
    # The admin's browser may inject axe (the CSP is bypassed for that alone).
    context = browser.new_context(viewport=VIEWPORTS["desktop"], bypass_csp=True)
    staff = context.new_page()
    sign_in(staff, live_server, admin.email)
    staff.wait_for_url(lambda url: "/login" not in url)
    # /billing and /admin/plans at both sizes; an invoice and a plan's form on a phone (the narrowest).
    shots = [(owner, "billing", f"/billing?org={tenant.id}"), (staff, "billing-admin-plans", "/admin/plans"),
             (owner, "billing-invoice", f"/billing/invoices/{first_invoice.id}"),
             (staff, "billing-admin-plan-form", f"/admin/plans/{subscriptions.plan_by_code('team').id}")]
    found = []
    for scheme in ("light", "dark"):
        for page in (owner, staff):
            page.emulate_media(color_scheme=scheme)
        for viewport in ("desktop", "phone"):
            for page in (owner, staff):
                page.set_viewport_size(VIEWPORTS[viewport])
            for page, name, path in shots if viewport == "phone" else shots[:2]:
                page.goto(f"{live_server}{path}")
                assert_looks_right(page)
                page.screenshot(path=SHOTS / f"{name}-{viewport}-{scheme}.png", full_page=True)
        # Populated (test_accessibility checks the bare /billing, /admin/plans and /admin/plans/new).
        for path in (f"/billing?org={tenant.id}", "/admin/plans", f"/billing/invoices/{first_invoice.id}"):
            found += [f"{scheme} {line}" for line in serious_violations(staff, f"{live_server}{path}")]
    owner.goto(f"{live_server}/billing?org={tenant.id}")
    expect(owner.get_by_role("img", name=re.compile("Tokens per day"))).to_be_visible()
    # Printed, an invoice is the invoice alone: no menu, no links back.
    owner.emulate_media(media="print", color_scheme="light")
    owner.set_viewport_size(VIEWPORTS["desktop"])
    owner.goto(f"{live_server}/billing/invoices/{first_invoice.id}")
    expect(owner.get_by_role("heading", name=f"Invoice {first_invoice.number}")).to_be_visible()
    expect(owner.locator(".topbar")).to_be_hidden()
    expect(owner.get_by_role("link", name="Back to billing")).to_be_hidden()
    owner.screenshot(path=SHOTS / "billing-invoice-print.png", full_page=True)
    context.close()
    assert found == [], "axe found serious or critical violations:\n" + "\n".join(found)
