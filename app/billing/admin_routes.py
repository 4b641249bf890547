"""/admin/plans, for site admins: the plans and their limits, a new plan, putting an organisation on
a plan by hand, and the open invoices to mark paid (the manual processor)."""
from __future__ import annotations

import uuid

from flask import render_template, request, url_for

from app.billing import bp, invoices, plans, stripe_dispatch
from app.billing.forms import AssignPlanForm, NewPlanForm, PlanForm
from app.billing.routes import FORMATTERS
from app.core.forms import submitted_or_refuse
from app.core.pages import done, is_htmx, page_number, render_page
from app.errors import Conflict, NotFound
from app.extensions import db
from app.security.origin import request_origin
from app.security.roles import Role, acting_user, role_required

admin_required = role_required(Role.ADMIN)


def _plans_page(status: int = 200):
    invoices.roll_forward_invoices()
    db.session.commit()
    query = (request.args.get("q") or "").replace("\x00", "").strip()[:100]
    page = page_number()
    open_rows, has_more = invoices.open_invoices(page)
    all_plans = plans.all_plans()
    assign_form = AssignPlanForm(formdata=None)
    assign_form.plan_id.choices = [(str(plan.id), plan.name) for plan in all_plans if plan.is_active]
    return render_page(
        "billing/admin_plans.html",
        {"organisation-results": "billing/_organisation_results.html", "open-invoices": "billing/_open_invoices.html"},
        plans=all_plans, counts=plans.subscriber_counts(), query=query,
        organisations=plans.search_organisations(query), open_invoices=open_rows, has_more=has_more, page=page,
        assign_form=assign_form, **FORMATTERS,
    ), status


@bp.get("/admin/plans")
@admin_required
def admin_plans():
    """Plans with their prices and limits, organisations to put on a plan, open invoices."""
    return _plans_page()


def _plan_form_page(form, plan=None, status: int = 200, conflict: str | None = None):
    return render_template("billing/admin_plan_form.html", form=form, plan=plan, conflict=conflict,
                           **FORMATTERS), status


@bp.get("/admin/plans/new")
@admin_required
def new_plan():
    """The form for a new plan."""
    return _plan_form_page(NewPlanForm(formdata=None, data={"is_active": True, "price": 0}))


@bp.post("/admin/plans/new")
@admin_required
def create_plan():
    """Save a new plan; a bad value keeps the form, with the message next to the field."""
    form = NewPlanForm()
    if not form.validate_on_submit():
        return _plan_form_page(form, status=422 if not is_htmx() else 200)
    try:
        plan = plans.create_plan(acting_user().id, form.code.data, form.values(), request_origin())
    except Conflict as error:
        form.code.errors = [error.message]
        return _plan_form_page(form, status=422 if not is_htmx() else 200)
    db.session.commit()
    return done(f"Plan “{plan.name}” created.", url_for("billing.admin_plans"), navigate=True)


@bp.get("/admin/plans/<uuid:plan_id>")
@admin_required
def edit_plan(plan_id: uuid.UUID):
    """The form for one plan and its limits."""
    plan = plans.get_plan(plan_id)
    return _plan_form_page(PlanForm.for_plan(plan), plan)


@bp.post("/admin/plans/<uuid:plan_id>")
@admin_required
def update_plan(plan_id: uuid.UUID):
    """Save a plan and its limits; a bad value keeps everything typed, with the message next to the field."""
    plan = plans.get_plan(plan_id)
    form = PlanForm()
    if not form.validate_on_submit():
        return _plan_form_page(form, plan, status=422 if not is_htmx() else 200)
    try:
        plan, changed = plans.update_plan(acting_user().id, plan_id, form.values(), request_origin())
    except Conflict as error:  # another admin saved the same plan at the same moment: keep what was typed
        return _plan_form_page(form, plans.get_plan(plan_id), status=409 if not is_htmx() else 200,
                               conflict=error.message)
    db.session.commit()
    return done(f"Plan “{plan.name}” saved." if changed else "Nothing changed.", url_for("billing.admin_plans"),
                navigate=True)


@bp.post("/admin/plans/assign")
@admin_required
def assign_plan():
    """Put an organisation on a plan (no payment: the manual processor); audited."""
    form = AssignPlanForm()
    form.plan_id.choices = [(str(plan.id), plan.name) for plan in plans.all_plans() if plan.is_active]
    form = submitted_or_refuse(form)
    try:
        tenant_id, plan_id = uuid.UUID(form.tenant_id.data), uuid.UUID(form.plan_id.data)
    except ValueError:
        raise NotFound("That organisation or plan does not exist.") from None
    tenant, plan, changed = plans.assign_plan(acting_user().id, tenant_id, plan_id)
    db.session.commit()
    message = (f"{tenant.name} is on the {plan.name} plan now." if changed
               else f"{tenant.name} was already on {plan.name}.")
    return done(message, url_for("billing.admin_plans", q=request.args.get("q") or None), navigate=True)


@bp.post("/admin/plans/invoices/<uuid:invoice_id>/paid")
@admin_required
def mark_invoice_paid(invoice_id: uuid.UUID):
    """Record a manual invoice as paid; audited."""
    invoice = invoices.mark_paid(acting_user().id, invoice_id, request_origin())
    db.session.commit()
    return done(f"Invoice {invoice.number} is marked paid.", url_for("billing.admin_plans"), navigate=True)


@bp.get("/admin/stripe-events")
@admin_required
def stripe_events():
    """Stripe's events that failed (still retried, or given up) or were ignored, with the reason, newest first."""
    outcome = request.args.get("show") if request.args.get("show") in stripe_dispatch.LISTED_OUTCOMES else "failed"
    page = page_number()
    events, has_more = stripe_dispatch.events_page(outcome, page)
    return render_page("billing/admin_stripe_events.html", {"stripe-events": "billing/_stripe_events.html"},
                       outcome=outcome, events=events, has_more=has_more, page=page,
                       counts=stripe_dispatch.outcome_counts())
