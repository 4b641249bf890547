"""The blueprint `billing_stripe`: Stripe's webhook (POST /billing/stripe/webhook, signed by Stripe, no
session, no CSRF token) and the two buttons of /billing that send an owner or admin to Stripe
(POST /billing/checkout, POST /billing/portal; signed in, CSRF checked)."""
from __future__ import annotations

import json
import uuid

import stripe
from flask import Blueprint, current_app, jsonify, render_template, request

from app.billing import stripe_dispatch, stripe_payments
from app.core.pages import htmx_redirect, is_htmx
from app.errors import NotFound
from app.extensions import csrf, db
from app.jobs import runner
from app.security.roles import acting_user, login_required

bp = Blueprint("billing_stripe", __name__)


def _tenant_id(text: str | None) -> uuid.UUID:
    """The organisation id a form names; anything but a UUID is a 404 (as a stranger's one is)."""
    try:
        return uuid.UUID(str(text or ""))
    except ValueError:
        raise NotFound("There is no such organisation.") from None


def _go(url: str, title: str, message: str):
    """Send the browser to Stripe: HX-Redirect for htmx; for a plain form a page that moves on by itself
    (a 303 to Stripe would be blocked: the CSP's form-action 'self' covers a form's redirects too)."""
    if is_htmx():
        return htmx_redirect(url)
    return render_template("billing_stripe/redirect.html", url=url, title=title, message=message)


@bp.post("/billing/checkout")
@login_required
def checkout():
    """Start a Stripe Checkout for the organisation's upgrade to a plan (form: tenant_id, plan_code)."""
    url = stripe_payments.start_checkout(acting_user(), _tenant_id(request.form.get("tenant_id")),
                                         (request.form.get("plan_code") or "").strip()[:64])
    db.session.commit()
    return _go(url, "Going to Stripe Checkout", "Stripe's page asks for the payment details. Your plan changes as soon "
                                                "as Stripe confirms the payment.")


@bp.post("/billing/portal")
@login_required
def portal():
    """Open Stripe's customer portal for the organisation (payment method, invoices, plan, cancel)."""
    url = stripe_payments.open_portal(acting_user(), _tenant_id(request.form.get("tenant_id")))
    db.session.commit()
    return _go(url, "Going to Stripe", "Stripe's customer portal shows the payment method, invoices and plan.")


def _refuse(message: str):
    return jsonify({"error": message}), 400


# Signed by Stripe instead: the signature over the raw body is what proves where it came from.
@bp.post("/billing/stripe/webhook")
@csrf.exempt
def webhook():
    """Verify the event's signature on the raw body (default tolerance: 300 s), store it once and queue
    its handlers; answer at once. A bad signature, a stale timestamp or a body that is not an event: 400."""
    if not stripe_payments.is_configured():
        return _refuse("Stripe is not configured on this server.")
    payload = request.get_data(cache=False)
    try:
        stripe.Webhook.construct_event(payload, request.headers.get("Stripe-Signature"),
                                       current_app.config["STRIPE_WEBHOOK_SECRET"])
        # Cleaned rather than refused (see storable()): the signature was checked on the raw body, and
        # Stripe redelivers a refused event for days (the same bytes, so a 400 never becomes a 200),
        # then disables the endpoint; nothing the handlers act on can hold a NUL.
        event = stripe_dispatch.storable(json.loads(payload))
    except stripe.SignatureVerificationError:
        return _refuse("The signature does not match.")
    except (ValueError, TypeError, AttributeError):  # not UTF-8, not JSON, or not an event
        return _refuse("The body is not a Stripe event.")
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not event["id"]:
        return _refuse("The body is not a Stripe event.")
    is_new = stripe_dispatch.receive_event(event)
    db.session.commit()
    if is_new:
        runner.wake()
    return jsonify({"received": True, "duplicate": not is_new})
