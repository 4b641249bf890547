"""Stripe's webhook events, applied in the background: stored once (`stripe_events`, unique event id),
split into one `stripe_event_dispatch` row per handler, and run by the job runner ("stripe_dispatch")
with retries and backoff. Every handler is idempotent: running it twice leaves what running it once
did, so a redelivered event or a retried job changes nothing more.

Handlers:
- checkout.session.completed: link the Stripe customer and subscription to the organisation named in
  client_reference_id / metadata, then READ the subscription from Stripe's API and apply it.
- customer.subscription.created / updated / deleted: the plan (by the price's BillingPlan), status and
  period; deleted (or ended) puts the organisation back on the free plan.
- invoice.paid / invoice.payment_failed / invoice.finalized: the invoice, by its Stripe id;
  payment_failed also makes the subscription past_due.
Plan changes go through subscriptions.change_plan (audited, actor None, reason "stripe:<event id>").
An event about nothing of ours (a customer no organisation here has, and nothing in it names one) is
marked ignored with the reason at once rather than retried; /admin/stripe-events lists the failed and
the ignored ones."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.orm import defer

from app.billing.models import (
    BillingPlan,
    InvoiceItem,
    StripeEvent,
    StripeEventDispatch,
    SubscriptionInvoice,
    TenantAccount,
    TenantSubscription,
)
from app.billing.subscriptions import DEFAULT_PLAN_CODE, change_plan, current_subscription, month_period, plan_by_code
from app.core.pages import paginate
from app.extensions import db
from app.jobs import runner
from app.models.base import insert_ignoring_duplicates, new_uuid, utcnow

JOB_KIND = "stripe_dispatch"


class NotReadyYet(Exception):
    """The event needs something another event brings first (an invoice before its subscription is
    linked): the handler fails and is retried after the backoff."""


class Ignored(Exception):
    """The event concerns nothing of ours (a customer no organisation here has, and nothing in the event
    names one): the handler is marked skipped with this reason, once, and not retried."""


class HandlersFailed(Exception):
    """One or more handlers of an event failed this time; the job is retried."""


# --- reading Stripe's objects (both shapes of the API's versions) ---------------------------------

def _timestamp(value) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if isinstance(value, int | float) and value > 0 else None


def _id(value) -> str | None:
    """An object's id whether Stripe sent the id or the expanded object."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _metadata(obj: dict) -> dict:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def _first_item(subscription: dict) -> dict:
    items = (subscription.get("items") or {}).get("data") or []
    return items[0] if items and isinstance(items[0], dict) else {}


def subscription_price_id(subscription: dict) -> str | None:
    """The price of the subscription's (first) item; older API versions also name it `plan`."""
    item = _first_item(subscription)
    return _id(item.get("price")) or _id(item.get("plan")) or _id(subscription.get("plan"))


def subscription_period(subscription: dict) -> tuple[datetime, datetime] | None:
    """current_period_start/end: on the subscription in older API versions, on its items since 2025."""
    for source in (subscription, _first_item(subscription)):
        start, end = _timestamp(source.get("current_period_start")), _timestamp(source.get("current_period_end"))
        if start and end and end > start:
            return start, end
    return None


# Stripe's statuses onto ours (tenant_subscriptions.status).
STATUSES = {"trialing": "trialing", "active": "active", "past_due": "past_due", "unpaid": "past_due",
            "paused": "past_due", "incomplete": "incomplete", "canceled": "canceled",
            "incomplete_expired": "canceled"}
PAYING_STATUSES = ("trialing", "active", "past_due")


def _uuid(text) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(text))
    except (TypeError, ValueError):
        return None


def _existing_tenant(tenant_id: uuid.UUID | None) -> uuid.UUID | None:
    if tenant_id is None:
        return None
    return db.session.scalar(select(TenantAccount.id).where(TenantAccount.id == tenant_id))


def _row_for_stripe_subscription(subscription_id: str | None) -> TenantSubscription | None:
    """The newest of our rows for that Stripe subscription (a plan change makes a new row, same id)."""
    if not subscription_id:
        return None
    return db.session.scalar(
        select(TenantSubscription).where(TenantSubscription.processor_subscription_id == subscription_id)
        .order_by(TenantSubscription.created_at.desc(), TenantSubscription.id.desc()).limit(1))


def _tenant_of_customer(customer_id: str | None) -> uuid.UUID | None:
    if not customer_id:
        return None
    return db.session.scalar(
        select(TenantSubscription.tenant_id).where(TenantSubscription.processor_customer_id == customer_id)
        .order_by(TenantSubscription.created_at.desc()).limit(1))


def _tenant_of_subscription(subscription: dict) -> uuid.UUID | None:
    """The organisation a Stripe subscription belongs to: its metadata (set at checkout), our row for
    it, or its customer."""
    tenant_id = _existing_tenant(_uuid(_metadata(subscription).get("tenant_id")))
    if tenant_id:
        return tenant_id
    row = _row_for_stripe_subscription(_id(subscription.get("id")))
    return row.tenant_id if row else _tenant_of_customer(_id(subscription.get("customer")))


def _lock_tenant(tenant_id: uuid.UUID) -> None:
    """Serialise plan changes of one organisation (PostgreSQL; SQLite already has one writer)."""
    db.session.execute(select(TenantAccount.id).where(TenantAccount.id == tenant_id).with_for_update())


# --- applying a subscription -----------------------------------------------------------------------

def apply_subscription(tenant_id: uuid.UUID, subscription: dict, *, event: StripeEvent,
                       deleted: bool = False) -> str:
    """Bring the organisation's plan in line with Stripe's subscription; returns what was done."""
    _lock_tenant(tenant_id)
    stripe_id = _id(subscription.get("id"))
    customer_id = _id(subscription.get("customer"))
    status = "canceled" if deleted else STATUSES.get(subscription.get("status"), "incomplete")
    current = current_subscription(tenant_id)
    is_current = stripe_id is not None and current.processor_subscription_id == stripe_id
    seen = (current.metadata_json or {}).get("stripe_event_created") if is_current else None
    event_created = int(event.stripe_created_at.timestamp()) if event.stripe_created_at else 0
    if seen and event_created and event_created < seen:
        return "stale"  # an older event arriving late: the newer one already applied

    if status == "canceled":
        if not is_current:
            return "not current"
        change_plan(tenant_id, plan_by_code(DEFAULT_PLAN_CODE), actor_id=None, processor="manual",
                    processor_customer_id=customer_id, reason=f"stripe:{event.stripe_event_id}")
        return "back to free"

    price_id = subscription_price_id(subscription)
    plan = db.session.scalar(select(BillingPlan).where(BillingPlan.stripe_price_id == price_id)) if price_id else None
    if plan is None:
        raise LookupError(f"no plan has the Stripe price {price_id!r}: set it at /admin/plans")
    period = subscription_period(subscription) or month_period(utcnow())
    marks = {**(current.metadata_json or {}), "stripe_event_created": event_created} if is_current \
        else {"stripe_event_created": event_created}

    if is_current and current.plan_id == plan.id:
        # Same plan, same subscription: refresh in place (a webhook per renewal must not add rows).
        current.status = status
        current.current_period_start, current.current_period_end = period
        current.processor_customer_id = customer_id or current.processor_customer_id
        current.metadata_json = marks
        _copy_dates(current, subscription)
        return "refreshed"
    if status not in PAYING_STATUSES:
        return "not paid yet"  # an incomplete subscription changes nothing until Stripe has the money
    subscription_row = change_plan(
        tenant_id, plan, actor_id=None, processor="stripe", status=status, period=period,
        processor_customer_id=customer_id, processor_subscription_id=stripe_id,
        reason=f"stripe:{event.stripe_event_id}")
    subscription_row.metadata_json = marks
    _copy_dates(subscription_row, subscription)
    return f"plan {plan.code}"


def _copy_dates(row: TenantSubscription, subscription: dict) -> None:
    """When a trial ends and when a cancelled subscription will stop (cancel at period end)."""
    row.trial_ends_at = _timestamp(subscription.get("trial_end"))
    row.cancel_at = _timestamp(subscription.get("cancel_at"))
    row.auto_renew = not subscription.get("cancel_at_period_end") and row.cancel_at is None


# --- handlers ----------------------------------------------------------------------------------------

def fetch_checkout_subscription(session: dict) -> dict | None:
    """Before link_checkout, outside any transaction: Stripe's current view of the session's subscription."""
    from app.billing import stripe_payments

    subscription_id = _id(session.get("subscription"))
    return stripe_payments.retrieve_subscription(subscription_id) if subscription_id else None


def link_checkout(event: StripeEvent, session: dict, subscription: dict | None) -> str:
    """checkout.session.completed: the organisation named at checkout gets the subscription as Stripe's
    API reports it (read by fetch_checkout_subscription), customer included."""
    tenant_id = _existing_tenant(_uuid(session.get("client_reference_id")) or
                                 _uuid(_metadata(session).get("tenant_id")))
    if tenant_id is None or subscription is None:
        raise Ignored("the checkout names no organisation here, or Stripe has no subscription for it")
    if not subscription.get("customer"):
        subscription = {**subscription, "customer": _id(session.get("customer"))}
    return apply_subscription(tenant_id, subscription, event=event)


def sync_subscription(event: StripeEvent, subscription: dict, _fetched=None) -> str:
    """customer.subscription.created / updated / deleted."""
    tenant_id = _tenant_of_subscription(subscription)
    if tenant_id is None:
        raise Ignored(f"subscription {_id(subscription.get('id'))} of customer {_id(subscription.get('customer'))} "
                      "belongs to no organisation here")
    return apply_subscription(tenant_id, subscription, event=event,
                              deleted=event.event_type == "customer.subscription.deleted")


def _invoice_subscription_id(invoice: dict) -> str | None:
    """The subscription an invoice bills: `subscription` in older API versions, `parent` since 2025."""
    parent = invoice.get("parent") if isinstance(invoice.get("parent"), dict) else {}
    details = parent.get("subscription_details") if isinstance(parent.get("subscription_details"), dict) else {}
    return _id(invoice.get("subscription")) or _id(details.get("subscription"))


def _invoice_names_organisation(invoice: dict) -> bool:
    """Whether the invoice's copy of its subscription's metadata (set at our checkout) names an
    organisation of ours: then its link is only late, not missing."""
    parent = invoice.get("parent") if isinstance(invoice.get("parent"), dict) else {}
    for details in (parent.get("subscription_details"), invoice.get("subscription_details")):
        metadata = details.get("metadata") if isinstance(details, dict) else None
        if isinstance(metadata, dict) and _existing_tenant(_uuid(metadata.get("tenant_id"))):
            return True
    return False


def _invoice_period(invoice: dict) -> tuple[datetime, datetime]:
    lines = (invoice.get("lines") or {}).get("data") or []
    period = (lines[0].get("period") or {}) if lines and isinstance(lines[0], dict) else {}
    start = _timestamp(period.get("start")) or _timestamp(invoice.get("period_start")) or utcnow()
    end = _timestamp(period.get("end")) or _timestamp(invoice.get("period_end")) or start
    return start, max(start, end)


INVOICE_STATUSES = ("draft", "open", "paid", "void", "uncollectible")
FINAL_INVOICE_STATUSES = ("paid", "void")  # a late "finalized" must not move a paid invoice back to open


def record_invoice(event: StripeEvent, invoice: dict, _fetched=None) -> str:
    """invoice.*: insert the invoice once (by its Stripe id), then bring its status and amount up to date."""
    external_id = _id(invoice.get("id"))
    if not external_id:
        raise Ignored("the invoice has no id")
    row = _row_for_stripe_subscription(_invoice_subscription_id(invoice))
    if row is None:
        tenant_id = _tenant_of_customer(_id(invoice.get("customer")))
        if tenant_id is None and _invoice_names_organisation(invoice):
            raise NotReadyYet(f"invoice {external_id}: its subscription is not linked to an organisation yet")
        if tenant_id is None:
            raise Ignored(f"invoice {external_id}: customer {_id(invoice.get('customer'))} belongs to no "
                          "organisation here and the invoice names none")
        row = current_subscription(tenant_id)
    status = invoice.get("status") if invoice.get("status") in INVOICE_STATUSES else "open"
    if event.event_type == "invoice.paid":
        status = "paid"
    amount = invoice.get("amount_paid") if status == "paid" else invoice.get("amount_due")
    amount = max(int(amount or 0), 0)
    paid_at = _timestamp((invoice.get("status_transitions") or {}).get("paid_at")) or (
        utcnow() if status == "paid" else None)
    start, end = _invoice_period(invoice)
    number = str(invoice.get("number") or external_id)[:32]
    new_id = db.session.execute(
        insert_ignoring_duplicates(SubscriptionInvoice.__table__, ["external_invoice_id"]).values(
            id=new_uuid(), subscription_id=row.id, tenant_id=row.tenant_id, number=number, period_start=start,
            period_end=end, amount_cents=amount, currency=str(invoice.get("currency") or "usd").upper()[:3],
            status=status, external_invoice_id=external_id, hosted_invoice_url=_url(invoice), paid_at=paid_at,
            created_at=utcnow())
        .returning(SubscriptionInvoice.__table__.c.id)).scalar()
    if new_id is not None:
        _add_lines(new_id, invoice)
        return f"invoice {status}"
    query = update(SubscriptionInvoice).where(SubscriptionInvoice.external_invoice_id == external_id)
    if status not in FINAL_INVOICE_STATUSES:
        query = query.where(SubscriptionInvoice.status.not_in(FINAL_INVOICE_STATUSES))
    db.session.execute(
        query.values(status=status, amount_cents=amount, hosted_invoice_url=_url(invoice), paid_at=paid_at)
        .execution_options(synchronize_session=False))
    return f"invoice {status} (updated)"


def _url(invoice: dict) -> str | None:
    url = invoice.get("hosted_invoice_url")
    return url[:256] if isinstance(url, str) and url.startswith("https://") else None


def _add_lines(invoice_id: uuid.UUID, invoice: dict) -> None:
    for position, line in enumerate(((invoice.get("lines") or {}).get("data") or [])[:100]):
        if not isinstance(line, dict):
            continue
        quantity = max(int(line.get("quantity") or 1), 1)
        amount = max(int(line.get("amount") or 0), 0)
        db.session.add(InvoiceItem(invoice_id=invoice_id, position=position,
                                   description=str(line.get("description") or "Subscription")[:256],
                                   quantity=quantity, unit_amount_cents=amount // quantity, amount_cents=amount))


def mark_past_due(event: StripeEvent, invoice: dict, _fetched=None) -> str:
    """invoice.payment_failed: the subscription it bills is past due (until a payment succeeds)."""
    row = _row_for_stripe_subscription(_invoice_subscription_id(invoice))
    if row is None or row.status == "canceled":
        raise Ignored("the invoice's subscription is not a live one here")
    db.session.execute(update(TenantSubscription).where(TenantSubscription.id == row.id)
                       .values(status="past_due").execution_options(synchronize_session=False))
    return "past_due"


# name → fn(event, the event's object, what PREPARE fetched or None) → what it did.
HANDLERS: dict[str, Callable[[StripeEvent, dict, dict | None], str]] = {
    "link_checkout": link_checkout,
    "sync_subscription": sync_subscription,
    "record_invoice": record_invoice,
    "mark_past_due": mark_past_due,
}
# name → fn(the event's object): API reads a handler needs, made before its transaction starts.
PREPARE: dict[str, Callable[[dict], dict | None]] = {"link_checkout": fetch_checkout_subscription}
EVENT_HANDLERS: dict[str, tuple[str, ...]] = {
    "checkout.session.completed": ("link_checkout",),
    "customer.subscription.created": ("sync_subscription",),
    "customer.subscription.updated": ("sync_subscription",),
    "customer.subscription.deleted": ("sync_subscription",),
    "invoice.paid": ("record_invoice",),
    "invoice.finalized": ("record_invoice",),
    "invoice.payment_failed": ("record_invoice", "mark_past_due"),
}


# --- receiving (in the webhook's request) ------------------------------------------------------------

def storable(value):
    """The event as PostgreSQL can store it: JSON may carry \\u0000 and lone surrogates (\\ud800) in
    text a customer typed (a name, a description, metadata), which JSONB and UTF-8 refuse; they are
    dropped (NUL) or replaced (a lone surrogate becomes "?"). Ids, amounts and types are untouched."""
    if isinstance(value, str):
        value = value.replace("\x00", "")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "replace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    return value


def receive_event(event: dict) -> bool:
    """Store a verified event once and queue its handlers; False when this event id was already stored
    (a redelivery, or the same event arriving twice at once). Part of the caller's transaction.
    The event must be storable() already."""
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    obj = data.get("object") if isinstance(data.get("object"), dict) else {}
    event_type = str(event.get("type") or "")[:128]
    handlers = EVENT_HANDLERS.get(event_type, ())
    tenant_hint = obj.get("client_reference_id") or _metadata(obj).get("tenant_id")
    now = utcnow()
    row_id = db.session.execute(
        insert_ignoring_duplicates(StripeEvent.__table__, ["stripe_event_id"]).values(
            id=new_uuid(), stripe_event_id=str(event["id"])[:64], event_type=event_type, payload=event,
            tenant_hint=str(tenant_hint)[:64] if tenant_hint else None,
            stripe_created_at=_timestamp(event.get("created")), received_at=now,
            processing_outcome="received" if handlers else "ignored", processed_at=None if handlers else now,
            processing_error=None if handlers else "Studio does not act on this type of event",
            processing_attempts=0)
        .returning(StripeEvent.__table__.c.id)).scalar()
    if row_id is None:
        return False
    for handler in handlers:
        db.session.add(StripeEventDispatch(stripe_event_id=row_id, handler=handler, status="pending"))
    if handlers:
        runner.enqueue(JOB_KIND, {"event_id": str(row_id)}, dedupe_key=f"stripe:{str(event['id'])[:180]}",
                       max_attempts=current_app.config["STRIPE_DISPATCH_MAX_ATTEMPTS"])
    return True


# --- the job ---------------------------------------------------------------------------------------

@runner.register(JOB_KIND)
def run_dispatch(context: runner.JobContext) -> dict:
    """Run every handler of the event that has not succeeded yet, each in its own transaction; raise
    (so the runner retries after its backoff) while any fails."""
    event_id = _uuid(context.payload.get("event_id"))
    event = db.session.get(StripeEvent, event_id) if event_id else None
    if event is None:
        db.session.rollback()
        return {"outcome": "missing"}
    pending = [dispatch.id for dispatch in db.session.scalars(
        select(StripeEventDispatch).where(StripeEventDispatch.stripe_event_id == event.id,
                                          StripeEventDispatch.status.in_(("pending", "failed")))
        .order_by(StripeEventDispatch.created_at))]
    db.session.rollback()
    errors = [error for dispatch_id in pending if (error := _run_one(dispatch_id, context.attempts))]
    outcome = _finish_event(event_id, errors, context)
    if errors:
        raise HandlersFailed("; ".join(errors))
    return {"outcome": outcome, "handlers": len(pending)}


def _run_one(dispatch_id: uuid.UUID, attempt: int) -> str | None:
    """One handler in one transaction; on failure that transaction is dropped and the failure recorded.
    Returns the error text, or None when it succeeded (or had already)."""
    dispatch = db.session.get(StripeEventDispatch, dispatch_id)
    if dispatch is None or dispatch.status == "succeeded":
        db.session.rollback()
        return None
    name, event_id = dispatch.handler, dispatch.stripe_event_id
    obj = ((db.session.get(StripeEvent, event_id).payload or {}).get("data") or {}).get("object") or {}
    db.session.rollback()
    try:
        fetched = PREPARE[name](obj) if name in PREPARE else None  # no transaction open during API calls
        now = utcnow()
        # The attempt is written first, so on SQLite this transaction holds the write lock from the start.
        claimed = db.session.execute(
            update(StripeEventDispatch)
            .where(StripeEventDispatch.id == dispatch_id, StripeEventDispatch.status != "succeeded")
            .values(attempts=StripeEventDispatch.attempts + 1, last_attempt_at=now, updated_at=now)
            .execution_options(synchronize_session=False)).rowcount
        if not claimed:
            db.session.rollback()
            return None
        try:
            HANDLERS[name](db.session.get(StripeEvent, event_id), obj, fetched)
        except Ignored as ignored:
            db.session.rollback()
            _record_skip(dispatch_id, str(ignored)[:2000])
            return None
        db.session.execute(update(StripeEventDispatch).where(StripeEventDispatch.id == dispatch_id)
                           .values(status="succeeded", last_error=None, next_retry_at=None, updated_at=utcnow())
                           .execution_options(synchronize_session=False))
        db.session.commit()
        return None
    except Exception as error:  # any handler failure is recorded and retried, never lost
        db.session.rollback()
        text = f"{type(error).__name__}: {error}"[:2000]
        current_app.logger.warning("Stripe event handler %s failed (dispatch %s): %s", name, dispatch_id, text)
        _record_failure(dispatch_id, text, attempt)
        return text


def _next_retry_at(attempt: int) -> datetime | None:
    """When the runner tries again (its backoff), or None after the last attempt."""
    if attempt >= current_app.config["STRIPE_DISPATCH_MAX_ATTEMPTS"]:
        return None
    return utcnow() + timedelta(seconds=current_app.config["JOBS_RETRY_BASE_SECONDS"] * 2 ** (attempt - 1))


def _record_failure(dispatch_id: uuid.UUID, text: str, attempt: int) -> None:
    now = utcnow()
    db.session.execute(update(StripeEventDispatch).where(StripeEventDispatch.id == dispatch_id)
                       .values(status="failed", attempts=StripeEventDispatch.attempts + 1, last_attempt_at=now,
                               last_error=text, next_retry_at=_next_retry_at(attempt), updated_at=now)
                       .execution_options(synchronize_session=False))
    db.session.commit()


def _record_skip(dispatch_id: uuid.UUID, reason: str) -> None:
    """The handler has nothing to do for this event, ever (Ignored): skipped with the reason, no retry."""
    now = utcnow()
    db.session.execute(update(StripeEventDispatch).where(StripeEventDispatch.id == dispatch_id)
                       .values(status="skipped", attempts=StripeEventDispatch.attempts + 1, last_attempt_at=now,
                               last_error=reason, next_retry_at=None, updated_at=now)
                       .execution_options(synchronize_session=False))
    db.session.commit()


def _finish_event(event_id: uuid.UUID, errors: list[str], context: runner.JobContext) -> str:
    """The event's outcome: failed while a handler fails; ignored (with the reasons) when every handler
    skipped it; processed otherwise."""
    now = utcnow()
    values = {"processing_attempts": StripeEvent.processing_attempts + 1}
    if errors:
        outcome = "failed"
        values.update(processing_outcome=outcome, processing_error="; ".join(errors)[:4000])
    else:
        dispatches = db.session.execute(select(StripeEventDispatch.status, StripeEventDispatch.last_error).where(
            StripeEventDispatch.stripe_event_id == event_id).order_by(StripeEventDispatch.created_at)).all()
        skipped = [reason or "nothing to do" for status, reason in dispatches if status == "skipped"]
        outcome = "ignored" if dispatches and len(skipped) == len(dispatches) else "processed"
        values.update(processing_outcome=outcome, processing_error="; ".join(skipped)[:4000] if outcome == "ignored"
                      else None, processed_at=now)
    db.session.execute(update(StripeEvent).where(StripeEvent.id == event_id).values(**values)
                       .execution_options(synchronize_session=False))
    db.session.commit()
    return outcome


# --- the admin's view (/admin/stripe-events) --------------------------------------------------------

LISTED_OUTCOMES = ("failed", "ignored")
EVENTS_PER_PAGE = 25


def outcome_counts() -> dict[str, int]:
    """How many stored events failed and how many were ignored (one query)."""
    rows = db.session.execute(select(StripeEvent.processing_outcome, func.count()).where(
        StripeEvent.processing_outcome.in_(LISTED_OUTCOMES)).group_by(StripeEvent.processing_outcome))
    return dict.fromkeys(LISTED_OUTCOMES, 0) | dict(rows.all())


def events_page(outcome: str, page: int) -> tuple[list[StripeEvent], bool]:
    """Page `page` of the events with that outcome (failed or ignored), newest first, without their payloads."""
    statement = (select(StripeEvent).options(defer(StripeEvent.payload))
                 .where(StripeEvent.processing_outcome == outcome)
                 .order_by(StripeEvent.received_at.desc(), StripeEvent.id.desc()))
    return paginate(statement, page, EVENTS_PER_PAGE)
