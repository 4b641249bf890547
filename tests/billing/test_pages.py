"""/billing: the plan, usage against each limit, the daily chart, invoices, plan change and members,
for the organisation asked for; another organisation is a 404, a role too low a 403."""
from __future__ import annotations

import re
import uuid

from sqlalchemy import select

from app.billing import subscriptions
from app.billing.models import SubscriptionInvoice, TenantMembership
from app.extensions import db
from app.security.audit import AuditLog
from tests.billing.pages_support import make_organisation, organisation_with_roles, put_on_plan
from tests.conftest import count_queries, log_in
from tests.factories import make_user


def _signed_in(app, user):
    from tests.conftest import SignedInClient

    client = app.test_client()
    log_in(client, user)
    return SignedInClient(client, user)


def test_a_user_sees_their_plan_limits_and_an_accessible_daily_chart(login_as):
    person = login_as("user")
    response = person.get("/billing")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "Free plan" in html and "Usage against limits" in html
    assert "Messages per day" in html and "Tokens per month" in html
    # The chart: an SVG image with a title and description, and the numbers in a hidden table.
    assert re.search(r'<svg[^>]*role="img"[^>]*aria-labelledby="tokens-chart-title tokens-chart-desc"', html)
    assert '<title id="tokens-chart-title">Tokens per day</title>' in html
    assert '<desc id="cost-chart-desc">Cost per day from' in html
    assert '<table class="visually-hidden">' in html and "<caption>Usage per day (UTC) in this period</caption>" in html
    # Their own personal organisation: they are its owner, so they see invoices and the plans.
    assert "Invoices" in html and "Change plan" in html
    assert "Ask an administrator to change the plan." in html
    assert person.user.display_name in html


def test_usage_shows_numbers_with_units_against_the_plans_limits(app, login_as):
    person = login_as("user")
    tenant = subscriptions.personal_organisation(person.user.id, person.user.email)
    features = subscriptions.plan_features(subscriptions.current_subscription(tenant.id).plan_id)
    html = person.get("/billing").get_data(as_text=True)
    tokens = features["monthly_tokens"]
    if tokens.hard_limit is not None:
        assert f"0 tokens of {tokens.hard_limit:,} tokens" in html
    cost = features.get("monthly_cost")
    if cost is not None and cost.hard_limit is not None:
        cents = cost.hard_limit // 10_000
        assert f"of ${cents // 100:,}.{cents % 100:02d}" in html


def test_a_member_cannot_see_another_organisations_usage_or_invoices(app, login_as):
    tenant, people = organisation_with_roles("Other Org")
    put_on_plan(tenant.id, "team")
    invoice = db.session.scalar(select(SubscriptionInvoice).where(SubscriptionInvoice.tenant_id == tenant.id))
    outsider = login_as("user")
    assert outsider.get(f"/billing?org={tenant.id}").status_code == 404
    assert outsider.get(f"/billing/invoices/{invoice.id}").status_code == 404
    assert outsider.get(f"/billing?org={uuid.uuid4()}").status_code == 404
    assert outsider.get("/billing?org=not-a-uuid").status_code == 404
    # A moderator is no site admin either.
    assert login_as("moderator").get(f"/billing?org={tenant.id}").status_code == 404
    # Its owner sees both.
    owner = _signed_in(app, people["owner"])
    assert invoice.number in owner.get(f"/billing?org={tenant.id}").get_data(as_text=True)
    assert owner.get(f"/billing/invoices/{invoice.id}").status_code == 200


def test_a_viewer_may_look_but_members_and_viewers_cannot_change_the_plan(app):
    tenant, people = organisation_with_roles()
    put_on_plan(tenant.id, "team")
    invoice = db.session.scalar(select(SubscriptionInvoice).where(SubscriptionInvoice.tenant_id == tenant.id))
    for role in ("viewer", "member"):
        person = _signed_in(app, people[role])
        page = person.get(f"/billing?org={tenant.id}")
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and "Team plan" in html
        assert "Only the organisation's owners and admins" in html and invoice.number not in html
        assert person.post("/billing/plan", {"tenant_id": str(tenant.id), "plan_code": "enterprise"}).status_code == 403
        assert person.get(f"/billing/invoices/{invoice.id}").status_code == 403
    # Owners without Stripe ask a site admin: refused too, with that message.
    owner = _signed_in(app, people["owner"])
    refused = owner.post("/billing/plan", {"tenant_id": str(tenant.id), "plan_code": "enterprise"})
    assert refused.status_code == 403
    assert "Ask an administrator to change the plan." in refused.get_data(as_text=True)
    assert subscriptions.current_subscription(tenant.id).plan.code == "team"


def test_a_site_admin_changes_the_plan_directly_audited_and_invoiced(app, login_as):
    tenant, _people = organisation_with_roles()
    admin = login_as("admin")
    page = admin.get(f"/billing?org={tenant.id}").get_data(as_text=True)
    assert "you see it as a site admin" in page and "Put on Team" in page
    response = admin.post("/billing/plan", {"tenant_id": str(tenant.id), "plan_code": "team"})
    assert response.status_code == 303
    assert subscriptions.current_subscription(tenant.id).plan.code == "team"
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "plan_changed",
                                                     AuditLog.entity_id == str(tenant.id)))
    assert entry.user_id == admin.user.id
    assert entry.changes["before"]["plan"] == "free" and entry.changes["after"]["plan"] == "team"
    invoice = db.session.scalar(select(SubscriptionInvoice).where(SubscriptionInvoice.tenant_id == tenant.id))
    assert invoice.status == "open" and invoice.amount_cents == 4900
    printable = admin.get(f"/billing/invoices/{invoice.id}").get_data(as_text=True)
    assert f"Invoice {invoice.number}" in printable and "$49.00" in printable and "billing.css" in printable
    # An unknown plan is a 404, not a 500.
    assert admin.post("/billing/plan", {"tenant_id": str(tenant.id), "plan_code": "nope"}).status_code == 404


def test_changing_plan_without_the_csrf_token_is_refused(app, login_as):
    admin = login_as("admin")
    tenant = make_organisation()
    response = admin.client.post("/billing/plan", data={"tenant_id": str(tenant.id), "plan_code": "team"})
    assert response.status_code == 400
    assert subscriptions.current_subscription(tenant.id).plan.code == "free"


def test_script_in_organisation_and_plan_names_is_shown_as_text(app):
    owner = make_user(display_name="<script>alert('member')</script>")
    tenant = make_organisation("<script>alert('org')</script>", members={"owner": [owner]})
    plan = subscriptions.plan_by_code("team")
    plan.name = "<img src=x onerror=alert(1)>"
    db.session.commit()
    html = _signed_in(app, owner).get(f"/billing?org={tenant.id}").get_data(as_text=True)
    assert "<script>alert(" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#39;org&#39;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_the_selector_lists_the_users_organisations(app):
    person = make_user()
    make_organisation("Shared Lab", members={"viewer": [person]})
    html = _signed_in(app, person).get("/billing").get_data(as_text=True)
    assert '<select id="org" name="org"' in html
    assert "Shared Lab (viewer)" in html and "(personal) (owner)" in html


def test_the_billing_pages_queries_do_not_grow_with_members_or_invoices(app):
    owner = make_user()
    few = make_organisation("Few", members={"owner": [owner]})
    many = make_organisation("Many", members={"owner": [owner], "member": [make_user() for _ in range(6)]})
    for tenant in (few, many):
        put_on_plan(tenant.id, "team")
    # More invoices for the second: earlier periods.
    subscription = subscriptions.current_subscription(many.id)
    from app.billing import invoices as invoice_service

    for months in (1, 2, 3):
        start = subscription.current_period_start.replace(year=subscription.current_period_start.year - months)
        db.session.add(SubscriptionInvoice(subscription_id=subscription.id, tenant_id=many.id,
                                           number=invoice_service.invoice_number(start.year, 900 + months),
                                           period_start=start, period_end=start, amount_cents=4900, status="paid"))
    db.session.commit()
    client = _signed_in(app, owner)
    client.get(f"/billing?org={few.id}")  # warm: the personal organisation, sessions
    with count_queries(app) as small:
        assert client.get(f"/billing?org={few.id}").status_code == 200
    with count_queries(app) as large:
        assert client.get(f"/billing?org={many.id}").status_code == 200
    assert len(large) == len(small), (len(small), len(large))
    assert len(large) <= 40


def test_members_are_listed_with_their_roles_and_only_managers_are_offered_to_manage_them(app):
    tenant, people = organisation_with_roles()
    html = _signed_in(app, people["viewer"]).get(f"/billing?org={tenant.id}").get_data(as_text=True)
    assert "Manage members" not in html
    if "organisations.show" in app.view_functions:  # the billing core's members page
        owner_page = _signed_in(app, people["owner"]).get(f"/billing?org={tenant.id}").get_data(as_text=True)
        assert f'href="/organisations/{tenant.id}">Manage members' in owner_page
    names = [membership.user_id for membership in db.session.scalars(
        select(TenantMembership).where(TenantMembership.tenant_id == tenant.id))]
    assert len(names) == 4 and "Owner person" in html and "Viewer person" in html


def test_with_stripe_configured_owners_are_offered_checkout_and_viewers_are_not(app):
    app.config.update(STRIPE_SECRET_KEY="sk_test_pages", STRIPE_WEBHOOK_SECRET="whsec_pages")
    subscriptions.plan_by_code("team").stripe_price_id = "price_team_monthly"
    db.session.commit()
    tenant, people = organisation_with_roles()
    html = _signed_in(app, people["owner"]).get(f"/billing?org={tenant.id}").get_data(as_text=True)
    assert 'action="/billing/checkout"' in html and 'name="plan_code" value="team"' in html
    assert f'name="tenant_id" value="{tenant.id}"' in html
    assert "Ask an administrator to change the plan." not in html
    # Enterprise has no Stripe price: no button for it.
    assert 'name="plan_code" value="enterprise"' not in html
    viewer_page = _signed_in(app, people["viewer"]).get(f"/billing?org={tenant.id}").get_data(as_text=True)
    assert "/billing/checkout" not in viewer_page


def test_only_an_https_link_to_stripes_copy_of_an_invoice_is_shown(app):
    tenant, people = organisation_with_roles()
    put_on_plan(tenant.id, "team")
    invoice = db.session.scalar(select(SubscriptionInvoice).where(SubscriptionInvoice.tenant_id == tenant.id))
    invoice.hosted_invoice_url = "javascript:alert(1)"
    db.session.commit()
    owner = _signed_in(app, people["owner"])
    for path in (f"/billing?org={tenant.id}", f"/billing/invoices/{invoice.id}"):
        assert "javascript:" not in owner.get(path).get_data(as_text=True)
    invoice.hosted_invoice_url = "https://invoice.stripe.com/i/acct_1/test_1"
    db.session.commit()
    assert 'href="https://invoice.stripe.com/i/acct_1/test_1"' in owner.get(
        f"/billing/invoices/{invoice.id}").get_data(as_text=True)
