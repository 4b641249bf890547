"""The manual processor's invoices: one per paid subscription period, made when a plan is assigned or
a period rolls over; numbers unique also when made at once; marking paid is audited, once."""
from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.billing import invoices, subscriptions
from app.billing.models import SubscriptionInvoice, TenantSubscription
from app.extensions import db
from app.models.base import utcnow
from app.security.audit import AuditLog
from tests.billing.pages_support import make_organisation, put_on_plan


def _invoices_of(tenant_id) -> list[SubscriptionInvoice]:
    return list(db.session.scalars(select(SubscriptionInvoice).where(SubscriptionInvoice.tenant_id == tenant_id)
                                   .order_by(SubscriptionInvoice.period_start)))


def test_a_paid_plan_gets_one_invoice_per_period_with_its_line_and_free_gets_none(app):
    free = make_organisation("Free Org")
    paying = make_organisation("Paying Org")
    put_on_plan(paying.id, "team")
    assert invoices.ensure_period_invoice(subscriptions.current_subscription(free.id)) is None
    assert _invoices_of(free.id) == []
    # Asking again (page loads, two admins) makes no second one.
    for _ in range(3):
        invoices.ensure_period_invoice(subscriptions.current_subscription(paying.id))
    assert invoices.roll_forward_invoices() == 0
    db.session.commit()
    [invoice] = _invoices_of(paying.id)
    assert re.fullmatch(rf"INV-{invoice.period_start.year}-\d{{6}}", invoice.number)
    assert (invoice.amount_cents, invoice.status, invoice.currency) == (4900, "open", "USD")
    [line] = invoices.get_invoice(invoice.id).items
    assert line.description.startswith("Team plan, ") and line.amount_cents == 4900 and line.quantity == 1


def test_a_new_period_gets_its_invoice_when_the_admin_page_loads(app, login_as):
    tenant = make_organisation()
    subscription = put_on_plan(tenant.id, "team")
    # The period ended: pretend it was last month's.
    start = subscription.current_period_start
    earlier = (start - timedelta(days=1)).replace(day=1)
    db.session.execute(update(SubscriptionInvoice).values(period_start=earlier, period_end=start))
    db.session.execute(update(TenantSubscription).where(TenantSubscription.id == subscription.id)
                       .values(current_period_start=earlier, current_period_end=start - timedelta(microseconds=1)))
    db.session.commit()
    assert login_as("admin").get("/admin/plans").status_code == 200
    periods = [invoice.period_start for invoice in _invoices_of(tenant.id)]
    assert periods == [earlier, start]


def test_invoice_numbers_count_up_within_the_year(app):
    tenants = [make_organisation(f"Org {n}") for n in range(3)]
    for tenant in tenants:
        put_on_plan(tenant.id, "team")
    numbers = sorted(db.session.scalars(select(SubscriptionInvoice.number)))
    year = utcnow().year
    assert numbers == [invoices.invoice_number(year, n) for n in (1, 2, 3)]


def _make_invoice(app, tenant_id, errors):
    with app.app_context():
        try:
            invoices.ensure_period_invoice(subscriptions.current_subscription(tenant_id))
            db.session.commit()
        except Exception as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
        finally:
            db.session.remove()


@pytest.mark.postgres
def test_invoices_made_at_once_get_distinct_numbers_and_one_per_period(app):
    tenants = [make_organisation(f"Parallel {n}") for n in range(6)]
    team = subscriptions.plan_by_code("team")
    for tenant in tenants:
        subscriptions.change_plan(tenant.id, team, actor_id=None)
    db.session.commit()
    errors: list[Exception] = []
    # Two requests per organisation, all at once.
    threads = [threading.Thread(target=_make_invoice, args=(app, tenant.id, errors)) for tenant in tenants * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    db.session.rollback()
    numbers = list(db.session.scalars(select(SubscriptionInvoice.number)))
    assert len(numbers) == len(tenants) == len(set(numbers))
    per_tenant = db.session.execute(select(SubscriptionInvoice.tenant_id, func.count())
                                    .group_by(SubscriptionInvoice.tenant_id)).all()
    assert sorted(count for _tenant, count in per_tenant) == [1] * len(tenants)


def test_an_admin_marks_an_invoice_paid_once_and_it_is_audited(app, login_as):
    tenant = make_organisation()
    put_on_plan(tenant.id, "team")
    [invoice] = _invoices_of(tenant.id)
    user = login_as("user")
    assert user.post(f"/admin/plans/invoices/{invoice.id}/paid").status_code == 403
    admin = login_as("admin")
    assert admin.client.post(f"/admin/plans/invoices/{invoice.id}/paid").status_code == 400  # no CSRF token
    db.session.expire_all()
    assert db.session.get(SubscriptionInvoice, invoice.id).status == "open"
    response = admin.post(f"/admin/plans/invoices/{invoice.id}/paid", htmx=True)
    assert response.status_code == 204 and response.headers["HX-Redirect"] == "/admin/plans"
    paid = db.session.get(SubscriptionInvoice, invoice.id)
    assert paid.status == "paid" and paid.paid_at is not None and paid.marked_paid_by_id == admin.user.id
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "invoice_marked_paid"))
    assert entry.user_id == admin.user.id and entry.entity_id == str(invoice.id)
    assert entry.changes["before"]["status"] == "open" and entry.changes["after"]["status"] == "paid"
    # Twice: a clear refusal, no second audit entry.
    again = admin.post(f"/admin/plans/invoices/{invoice.id}/paid")
    assert again.status_code == 409
    assert db.session.scalar(select(func.count()).select_from(AuditLog)
                             .where(AuditLog.action == "invoice_marked_paid")) == 1
    assert "Paid" in admin.get(f"/billing/invoices/{invoice.id}").get_data(as_text=True)
