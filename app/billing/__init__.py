"""Billing: organisations, plans, subscriptions, metered usage enforced before provider calls,
invoices, and payments through Stripe or assigned offline by an admin (SPEC "Billing").

The blueprint `billing` serves /billing (plan, usage against limits, invoices, plan change) and the
site admin's /admin/plans."""
from flask import Blueprint

bp = Blueprint("billing", __name__)

from app.billing import admin_routes, routes  # noqa: E402,F401
