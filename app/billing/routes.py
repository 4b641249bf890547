"""/billing: an organisation's plan, usage against its limits with a chart, invoices (printable), the
plans to change to, and its members."""
from __future__ import annotations

import uuid

from flask import make_response, render_template, request, url_for

from app.billing import bp, invoices, limits, organisations, overview
from app.billing.forms import FEATURE_LABELS, ChangePlanForm
from app.billing.models import FEATURES
from app.core.forms import submitted_or_refuse
from app.core.pages import done, page_number, render_page
from app.errors import NotFound
from app.extensions import db
from app.security.roles import acting_user, login_required

# What the billing templates format numbers, money and periods with.
FORMATTERS = {"format_money": overview.format_money, "format_quantity": limits.format_quantity,
              "period_label": invoices.period_label, "feature_names": FEATURE_LABELS,
              "feature_units": FEATURES}


def _tenant_id_arg(text: str | None) -> uuid.UUID | None:
    """The organisation id in ?org= (None when absent); anything but a UUID is a 404."""
    if not text:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        raise NotFound("That organisation does not exist.") from None


def _private(response):
    response = make_response(response)
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("HX-Request")
    return response


@bp.get("/billing")
@login_required
def billing_page():
    """The chosen organisation's (?org=, the personal one by default) plan, limits, chart, invoices, members."""
    user = acting_user()
    tenant, role = overview.organisation_for(user, _tenant_id_arg(request.args.get("org")))
    overview.bring_up_to_date(tenant.id)
    db.session.commit()  # the personal organisation, a period rolled forward or its invoice may be new
    page = page_number()
    data = overview.billing_overview(user, tenant, role, invoice_page=page)
    return _private(render_page(
        "billing/page.html", {"invoices": "billing/_invoices.html"}, view=data, page=page,
        organisations=organisations.organisations_of(user), **FORMATTERS))


@bp.post("/billing/plan")
@login_required
def change_plan():
    """A site admin puts the organisation on another plan (the manual processor); others get a 403."""
    form = submitted_or_refuse(ChangePlanForm())
    tenant_id = _tenant_id_arg(form.tenant_id.data)
    if tenant_id is None:
        raise NotFound("That organisation does not exist.")
    subscription, changed = overview.change_plan_directly(acting_user(), tenant_id, form.plan_code.data)
    plan_name = subscription.plan.name
    db.session.commit()
    message = (f"The organisation is on the {plan_name} plan now." if changed
               else f"The organisation is already on the {plan_name} plan.")
    return done(message, url_for("billing.billing_page", org=tenant_id), navigate=True)


@bp.get("/billing/invoices/<uuid:invoice_id>")
@login_required
def invoice_page(invoice_id: uuid.UUID):
    """One invoice as a printable page."""
    invoice, tenant, plan = overview.invoice_for(acting_user(), invoice_id)
    return _private(render_template("billing/invoice.html", invoice=invoice, tenant=tenant, plan=plan, **FORMATTERS))
