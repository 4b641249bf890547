"""The manual processor's invoices: one per period of a paid subscription an admin assigned, with its
lines, numbered INV-YYYY-NNNNNN; an admin marks one paid. Stripe's invoices arrive by webhook instead.

Idempotent: the subscription's row is locked (on SQLite: the database's write lock) before
looking for the period's invoice, so two requests rolling the same period forward make one invoice.
Numbers: the next after the year's highest; a concurrent request that took it makes the unique
constraint refuse ours, and we try the next inside a savepoint."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app.billing import subscriptions
from app.billing.models import BillingPlan, InvoiceItem, SubscriptionInvoice, TenantAccount, TenantSubscription
from app.core.pages import paginate
from app.errors import Conflict, NotFound
from app.extensions import db
from app.models.base import utcnow
from app.security.audit import record_audit
from app.security.origin import Origin

NUMBER_ATTEMPTS = 8
ROLL_FORWARD_BATCH = 200  # subscriptions invoiced per load of /admin/plans; the next load does the rest


@dataclass(frozen=True)
class OpenInvoice:
    invoice: SubscriptionInvoice
    tenant: TenantAccount


def invoice_number(year: int, sequence: int) -> str:
    return f"INV-{year}-{sequence:06d}"


def _next_sequence(year: int) -> int:
    prefix = f"INV-{year}-"
    highest = db.session.scalar(select(func.max(SubscriptionInvoice.number))
                                .where(SubscriptionInvoice.number.like(f"{prefix}%")))
    # Numbers are zero-padded to six digits, so the text order is the number order up to 999,999.
    try:
        return int(highest[len(prefix):]) + 1 if highest else 1
    except ValueError:
        return 1


def period_label(start: datetime, end: datetime) -> str:
    """A period as its first and last day ("2026-11-01 to 2026-11-30"; `end` is exclusive)."""
    return f"{start.date().isoformat()} to {(end - timedelta(microseconds=1)).date().isoformat()}"


def _add_numbered(invoice: SubscriptionInvoice, year: int) -> None:
    """Insert `invoice` with the next free number of `year` (retrying when a concurrent one took it)."""
    for _ in range(NUMBER_ATTEMPTS):
        invoice.number = invoice_number(year, _next_sequence(year))
        try:
            with db.session.begin_nested():
                db.session.add(invoice)
                db.session.flush()
            return
        except IntegrityError:
            # Only the savepoint rolled back. A concurrent invoice holds the number: try the next one.
            if not db.session.scalar(select(exists().where(SubscriptionInvoice.number == invoice.number))):
                raise
    raise Conflict("Could not number the invoice: too many at once. Try again.")


def ensure_period_invoice(subscription: TenantSubscription) -> SubscriptionInvoice | None:
    """The invoice of the subscription's current period, made when missing: only for a manual
    subscription to a paid plan. Part of the caller's transaction."""
    return _ensure(subscription)[0]


def _ensure(subscription: TenantSubscription) -> tuple[SubscriptionInvoice | None, bool]:
    plan: BillingPlan = subscription.plan
    if subscription.processor != "manual" or plan.price_cents <= 0:
        return None, False
    # Serialise makers of this subscription's invoice: a no-op write locks the row on PostgreSQL and
    # takes SQLite's write lock (where a SELECT, even FOR UPDATE, would not).
    db.session.execute(update(TenantSubscription).where(TenantSubscription.id == subscription.id)
                       .values(updated_at=TenantSubscription.updated_at))
    found = db.session.scalar(select(SubscriptionInvoice).where(
        SubscriptionInvoice.subscription_id == subscription.id,
        SubscriptionInvoice.period_start == subscription.current_period_start))
    if found is not None:
        return found, False
    start, end = subscription.current_period_start, subscription.current_period_end
    invoice = SubscriptionInvoice(
        subscription_id=subscription.id, tenant_id=subscription.tenant_id, period_start=start, period_end=end,
        amount_cents=plan.price_cents, currency=plan.currency, status="open", created_at=utcnow())
    invoice.items = [InvoiceItem(position=1, description=f"{plan.name} plan, {period_label(start, end)}"[:256],
                                 quantity=1, unit_amount_cents=plan.price_cents, amount_cents=plan.price_cents)]
    _add_numbered(invoice, start.year)
    return invoice, True


def roll_forward_invoices(limit: int = ROLL_FORWARD_BATCH) -> int:
    """Invoice the current period of live manual subscriptions to paid plans that have none yet
    (rolling each period forward first); how many were made."""
    now = utcnow()
    missing = select(TenantSubscription.tenant_id).join(
        BillingPlan, BillingPlan.id == TenantSubscription.plan_id).where(
        TenantSubscription.status.in_(subscriptions.LIVE_STATUSES), TenantSubscription.processor == "manual",
        BillingPlan.price_cents > 0,
        (TenantSubscription.current_period_end <= now) | ~exists().where(
            SubscriptionInvoice.subscription_id == TenantSubscription.id,
            SubscriptionInvoice.period_start == TenantSubscription.current_period_start),
    ).order_by(TenantSubscription.id).limit(limit)
    made = 0
    for tenant_id in db.session.scalars(missing).all():
        made += _ensure(subscriptions.current_subscription(tenant_id, now=now))[1]
    return made


def invoices_of(tenant_id: uuid.UUID, page: int, size: int = 10) -> tuple[list[SubscriptionInvoice], bool]:
    """The organisation's invoices, newest period first, paged."""
    return paginate(select(SubscriptionInvoice).where(SubscriptionInvoice.tenant_id == tenant_id)
                    .order_by(SubscriptionInvoice.period_start.desc(), SubscriptionInvoice.created_at.desc(),
                              SubscriptionInvoice.id.desc()), page, size)


def get_invoice(invoice_id: uuid.UUID) -> SubscriptionInvoice:
    """One invoice with its lines (whoever asks must already be allowed to see its organisation)."""
    invoice = db.session.scalar(select(SubscriptionInvoice).options(selectinload(SubscriptionInvoice.items))
                                .where(SubscriptionInvoice.id == invoice_id))
    if invoice is None:
        raise NotFound("That invoice does not exist.")
    return invoice


def open_invoices(page: int, size: int = 20) -> tuple[list[OpenInvoice], bool]:
    """Invoices waiting for payment across organisations, oldest first, with their organisation."""
    rows, has_more = paginate(
        select(SubscriptionInvoice, TenantAccount)
        .join(TenantAccount, TenantAccount.id == SubscriptionInvoice.tenant_id)
        .where(SubscriptionInvoice.status == "open")
        .order_by(SubscriptionInvoice.created_at, SubscriptionInvoice.id), page, size)
    return [OpenInvoice(invoice, tenant) for invoice, tenant in rows], has_more


def mark_paid(actor_id: uuid.UUID, invoice_id: uuid.UUID, origin: Origin | None = None) -> SubscriptionInvoice:
    """An admin records an open invoice as paid, once (a conditional update: of two clicks at once one
    wins, the other is told); audited with before and after."""
    invoice = db.session.get(SubscriptionInvoice, invoice_id)
    if invoice is None:
        raise NotFound("That invoice does not exist.")
    paid_at = utcnow()
    changed = db.session.execute(
        update(SubscriptionInvoice).where(SubscriptionInvoice.id == invoice_id, SubscriptionInvoice.status == "open")
        .values(status="paid", paid_at=paid_at, marked_paid_by_id=actor_id)
        .execution_options(synchronize_session=False)).rowcount
    db.session.refresh(invoice)
    if not changed:
        raise Conflict(f"Invoice {invoice.number} is {invoice.status}, not open: nothing to mark paid.")
    record_audit(actor_id, "subscription_invoice", invoice.id, "invoice_marked_paid",
                 before={"status": "open", "paid_at": None},
                 after={"status": "paid", "paid_at": paid_at.isoformat(), "number": invoice.number,
                        "amount_cents": invoice.amount_cents},
                 ip_address=origin.ip_address if origin else None, user_agent=origin.user_agent if origin else None)
    return invoice
