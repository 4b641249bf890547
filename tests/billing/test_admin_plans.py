"""/admin/plans: site admins edit plans and their limits, create plans, put organisations on a plan
and mark invoices paid; everyone else is refused, and every change is audited with before and after."""
from __future__ import annotations

from sqlalchemy import select

from app.billing import subscriptions
from app.billing.models import BillingPlan, SubscriptionInvoice
from app.extensions import db
from app.security.audit import AuditLog
from tests.billing.pages_support import make_organisation


def _form_of(plan: BillingPlan, **changes) -> dict:
    """The edit form as the page fills it for `plan`, with `changes` typed over it."""
    features = subscriptions.plan_features(plan.id)
    data = {"name": plan.name, "price": f"{plan.price_cents / 100:.2f}", "stripe_price_id": plan.stripe_price_id or "",
            "sort_order": str(plan.sort_order)}
    if plan.is_active:
        data["is_active"] = "y"
    for key, feature in features.items():
        data[f"hard_{key}"] = "" if feature.hard_limit is None else str(feature.hard_limit)
        data[f"soft_{key}"] = "" if feature.soft_limit is None else str(feature.soft_limit)
    data.update(changes)
    return data


def test_only_site_admins_reach_the_plans_pages(login_as):
    team = subscriptions.plan_by_code("team")
    for role in ("user", "moderator"):
        person = login_as(role)
        assert person.get("/admin/plans").status_code == 403
        assert person.get(f"/admin/plans/{team.id}").status_code == 403
        assert person.get("/admin/plans/new").status_code == 403
        assert person.post(f"/admin/plans/{team.id}", _form_of(team, price="0.00")).status_code == 403
    assert subscriptions.plan_by_code("team").price_cents == 4900


def test_an_admin_sees_every_plan_with_price_limits_and_subscribers(login_as):
    admin = login_as("admin")
    make_organisation("Northwind")
    html = admin.get("/admin/plans").get_data(as_text=True)
    assert '<a href="/admin/plans" aria-current="page">Plans</a>' in html  # in the Admin menu (migration 0016)
    for name, price in (("Free", "$0.00"), ("Team", "$49.00"), ("Enterprise", "$499.00")):
        assert f"<strong>{name}</strong>" in html and price in html
    assert "tokens" in html and "Northwind" in html and "No invoice is waiting for payment." in html


def test_editing_limits_saves_them_and_audits_before_and_after(login_as):
    admin = login_as("admin")
    team = subscriptions.plan_by_code("team")
    old_hard = subscriptions.plan_features(team.id)["monthly_tokens"].hard_limit
    response = admin.post(f"/admin/plans/{team.id}", _form_of(team, hard_monthly_tokens="5,000",
                                                                soft_monthly_tokens="4000", price="59.50"))
    assert response.status_code == 303
    features = subscriptions.plan_features(team.id)
    assert (features["monthly_tokens"].hard_limit, features["monthly_tokens"].soft_limit) == (5000, 4000)
    assert subscriptions.plan_by_code("team").price_cents == 5950
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "plan_updated"))
    assert entry.user_id == admin.user.id and entry.entity_id == str(team.id)
    assert entry.changes["before"]["price_cents"] == 4900 and entry.changes["after"]["price_cents"] == 5950
    assert entry.changes["before"]["limits"]["monthly_tokens"]["hard"] == old_hard
    assert entry.changes["after"]["limits"]["monthly_tokens"] == {"hard": 5000, "soft": 4000}
    # Empty means no limit.
    admin.post(f"/admin/plans/{team.id}", _form_of(subscriptions.plan_by_code("team"), hard_monthly_tokens="",
                                                   soft_monthly_tokens=""))
    db.session.expire_all()
    assert subscriptions.plan_features(team.id)["monthly_tokens"].hard_limit is None


def test_bad_limits_keep_the_form_with_a_message_and_save_nothing(login_as):
    admin = login_as("admin")
    team = subscriptions.plan_by_code("team")
    before = {key: (f.hard_limit, f.soft_limit) for key, f in subscriptions.plan_features(team.id).items()}
    cases = [({"hard_messages_per_day": "10", "soft_messages_per_day": "20"},
              "The warning (soft limit) must not be above the hard limit."),
             ({"hard_members": "-5"}, "Write a whole number of 0 or more"),
             ({"hard_storage": "1.5"}, "Write a whole number of 0 or more"),
             ({"soft_projects": "lots"}, "Write a whole number of 0 or more"),
             ({"price": "-1"}, "The price must be between 0 and 1,000,000 dollars."),
             ({"name": ""}, "This field is required.")]
    for changes, message in cases:
        response = admin.post(f"/admin/plans/{team.id}", _form_of(team, **{
            "name": "Team renamed", "hard_projects": "77", **changes}))
        html = response.get_data(as_text=True)
        assert response.status_code == 422, changes
        assert message in html and "Nothing was saved" in html
        # What was typed is still there.
        assert 'value="77"' in html
        for value in changes.values():
            if value:
                assert f'value="{value}"' in html
    db.session.expire_all()
    assert subscriptions.plan_by_code("team").name == "Team"
    assert {key: (f.hard_limit, f.soft_limit) for key, f in subscriptions.plan_features(team.id).items()} == before
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "plan_updated")) is None


def test_an_admin_creates_a_plan_and_a_taken_code_is_a_message(login_as):
    admin = login_as("admin")
    data = {"code": "team-plus", "name": "Team Plus", "price": "99", "is_active": "y", "sort_order": "25",
            "hard_monthly_tokens": "9000000", "soft_monthly_tokens": "8000000", "hard_members": "50"}
    assert admin.post("/admin/plans/new", data).status_code == 303
    plan = subscriptions.plan_by_code("team-plus")
    assert plan.price_cents == 9900 and plan.is_active
    features = subscriptions.plan_features(plan.id)
    assert set(features) == {"monthly_tokens", "members"} and features["members"].hard_limit == 50
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "plan_created")).entity_id == str(plan.id)
    again = admin.post("/admin/plans/new", {**data, "name": "Another"})
    assert again.status_code == 422 and "exists already" in again.get_data(as_text=True)
    assert "Team Plus" in admin.get("/admin/plans").get_data(as_text=True)


def test_assigning_a_plan_finds_the_organisation_invoices_it_and_is_audited(login_as):
    admin = login_as("admin")
    make_organisation("Globex Corporation")
    tenant = make_organisation("Initech Ltd")
    found = admin.get("/admin/plans?q=initech").get_data(as_text=True)
    assert "Initech Ltd" in found and "Globex Corporation" not in found
    fragment = admin.get("/admin/plans?q=glob", headers={"HX-Request": "true", "HX-Target": "organisation-results"})
    assert fragment.get_data(as_text=True).strip().startswith('<div id="organisation-results">')
    team = subscriptions.plan_by_code("team")
    response = admin.post("/admin/plans/assign", {"tenant_id": str(tenant.id), "plan_id": str(team.id)})
    assert response.status_code == 303
    assert subscriptions.current_subscription(tenant.id).plan.code == "team"
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "plan_changed",
                                                     AuditLog.entity_id == str(tenant.id)))
    assert entry.user_id == admin.user.id and entry.changes["after"]["plan"] == "team"
    invoice = db.session.scalar(select(SubscriptionInvoice).where(SubscriptionInvoice.tenant_id == tenant.id))
    assert invoice.status == "open"
    page = admin.get("/admin/plans").get_data(as_text=True)
    assert invoice.number in page and f"Mark paid {invoice.number}" in page
    # Nonsense ids are a 404, not a 500.
    assert admin.post("/admin/plans/assign", {"tenant_id": str(tenant.id), "plan_id": "x"}).status_code == 422
    assert admin.post("/admin/plans/assign", {"tenant_id": "not-a-uuid", "plan_id": str(team.id)}).status_code == 404


def test_plan_changes_without_the_csrf_token_are_refused(login_as):
    admin = login_as("admin")
    team = subscriptions.plan_by_code("team")
    tenant = make_organisation()
    assert admin.client.post(f"/admin/plans/{team.id}", data=_form_of(team, price="1.00")).status_code == 400
    assert admin.client.post("/admin/plans/new", data={"code": "x", "name": "X", "price": "1"}).status_code == 400
    assert admin.client.post("/admin/plans/assign",
                             data={"tenant_id": str(tenant.id), "plan_id": str(team.id)}).status_code == 400
    assert subscriptions.plan_by_code("team").price_cents == 4900
    assert subscriptions.current_subscription(tenant.id).plan.code == "free"


def test_script_in_plan_and_organisation_names_is_escaped_on_the_admin_page(login_as):
    admin = login_as("admin")
    team = subscriptions.plan_by_code("team")
    assert admin.post(f"/admin/plans/{team.id}", _form_of(team, name="<script>alert(1)</script>")).status_code == 303
    make_organisation("<img src=x onerror=alert(2)>")
    html = admin.get("/admin/plans").get_data(as_text=True)
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    edit = admin.get(f"/admin/plans/{team.id}").get_data(as_text=True)
    assert "<script>alert(1)" not in edit


def test_the_plans_pages_queries_do_not_grow_with_organisations_or_invoices(app, login_as):
    from tests.billing.pages_support import put_on_plan
    from tests.conftest import count_queries

    admin = login_as("admin")
    put_on_plan(make_organisation("First").id, "team")
    admin.get("/admin/plans")  # warm: the admin's personal organisation
    with count_queries(app) as few:
        assert admin.get("/admin/plans").status_code == 200
    for number in range(5):
        put_on_plan(make_organisation(f"More {number}").id, "enterprise" if number % 2 else "team")
    with count_queries(app) as many:
        html = admin.get("/admin/plans").get_data(as_text=True)
    assert html.count(">Mark paid</button>") == 6
    assert len(many) == len(few), (len(few), len(many))
