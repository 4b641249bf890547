"""Metering: every provider call adds its tokens, cost and one request to its organisation's counters,
and every answer asked for adds one message, in the caller's transaction.

All counting is `INSERT … ON CONFLICT DO UPDATE SET n = n + excluded.n` (SQLite and PostgreSQL), so
concurrent answers never lose an update and no counter is read before it is written. A call adds to:
- subscription_usage: monthly_tokens and monthly_cost (micro-dollars) of the organisation's current
  subscription period (what the plan's monthly limits compare against);
- usage_counters: the organisation's day and month, and the member's day and month (per-day
  limits, per-member caps, /billing's chart)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from app.billing import subscriptions
from app.billing.models import FEATURES, SubscriptionUsage, TenantAccount, TenantSubscription, UsageCounter
from app.extensions import db
from app.models.base import new_uuid, utcnow

COUNTER_COLUMNS = ("input_tokens", "output_tokens", "cost_micros", "requests", "messages")
MICROS = Decimal("1000000")


def micros(usd: Decimal | None) -> int:
    """Dollars as whole micro-dollars (half up): how metered cost is counted and limited."""
    return int((Decimal(usd or 0) * MICROS).to_integral_value(rounding=ROUND_HALF_UP))


def month_start(day: date) -> date:
    return day.replace(day=1)


def bucket_key(tenant_id: uuid.UUID, user_id: uuid.UUID | None, granularity: str, period_start: date) -> str:
    """The unique name of one usage_counters row (user "-" for the organisation's own)."""
    return f"{tenant_id}|{user_id or '-'}|{granularity}|{period_start.isoformat()}"


def _insert(table):
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def _add_to_counters(tenant_id: uuid.UUID, user_id: uuid.UUID | None, at: datetime, **amounts: int) -> None:
    """Add `amounts` to the organisation's and (with `user_id`) the member's day and month rows: one upsert."""
    day = at.date()
    rows = []
    for who in ([None, user_id] if user_id else [None]):
        for granularity, start in (("day", day), ("month", month_start(day))):
            rows.append({"id": new_uuid(), "tenant_id": tenant_id, "user_id": who, "period_start": start,
                         "granularity": granularity, "bucket_key": bucket_key(tenant_id, who, granularity, start),
                         "storage_bytes": 0, "created_at": at, "updated_at": at,
                         **{column: amounts.get(column, 0) for column in COUNTER_COLUMNS}})
    statement = _insert(UsageCounter.__table__).values(rows)
    table = UsageCounter.__table__
    changed = {column: table.c[column] + statement.excluded[column]
               for column in COUNTER_COLUMNS if amounts.get(column)}
    db.session.execute(statement.on_conflict_do_update(
        index_elements=["bucket_key"], set_={**changed, "updated_at": statement.excluded.updated_at}))


def _add_to_subscription(subscription_id: uuid.UUID, period: tuple[datetime, datetime], tokens: int,
                         cost_micros: int, at: datetime) -> None:
    """Add the call's tokens and cost to the subscription's period rows: one upsert."""
    rows = [{"id": new_uuid(), "subscription_id": subscription_id, "feature_key": key, "unit": FEATURES[key],
             "period_start": period[0], "period_end": period[1], "quantity": quantity, "reported_at": at}
            for key, quantity in (("monthly_tokens", tokens), ("monthly_cost", cost_micros))]
    statement = _insert(SubscriptionUsage.__table__)
    quantity = SubscriptionUsage.__table__.c.quantity
    db.session.execute(statement.values(rows).on_conflict_do_update(
        index_elements=["subscription_id", "feature_key", "period_start"],
        set_={"quantity": quantity + statement.excluded.quantity, "reported_at": statement.excluded.reported_at}))


def _tenant_and_subscription(call) -> tuple[uuid.UUID, uuid.UUID, tuple[datetime, datetime]] | None:
    """(organisation, its current subscription, the period) for a call, in one query on the usual path:
    the call's own organisation, else its conversation's, else its user's personal one."""
    from app.chat.models import Conversation  # chat calls metering; metering reads only this column

    candidates = []
    if call.chat_id is not None:
        candidates.append(select(Conversation.tenant_id).where(Conversation.id == call.chat_id).scalar_subquery())
    if call.user_id is not None:
        candidates.append(select(TenantAccount.id).where(TenantAccount.personal_user_id == call.user_id)
                          .scalar_subquery())
    if call.tenant_id is not None:
        tenant = call.tenant_id
    elif not candidates:
        return None
    else:
        tenant = func.coalesce(*candidates) if len(candidates) > 1 else candidates[0]
    now = utcnow()
    row = db.session.execute(
        select(TenantSubscription.tenant_id, TenantSubscription.id, TenantSubscription.current_period_start,
               TenantSubscription.current_period_end, TenantSubscription.processor)
        .where(TenantSubscription.tenant_id == tenant, TenantSubscription.status.in_(subscriptions.LIVE_STATUSES))
        .order_by(TenantSubscription.created_at.desc(), TenantSubscription.id.desc()).limit(1)).first()
    if row is not None and not (row.processor == "manual" and row.current_period_end <= now):
        return row.tenant_id, row.id, (row.current_period_start, row.current_period_end)
    # The rare path: no personal organisation yet, no subscription yet, or a period to roll forward.
    tenant_id = call.tenant_id
    if tenant_id is None and call.chat_id is not None:
        tenant_id = db.session.scalar(select(Conversation.tenant_id).where(Conversation.id == call.chat_id))
    if tenant_id is None:
        if call.user_id is None:
            return None
        tenant_id = subscriptions.personal_organisation(call.user_id).id
    subscription = subscriptions.current_subscription(tenant_id, now=now)
    return tenant_id, subscription.id, (subscription.current_period_start, subscription.current_period_end)


@dataclass(frozen=True)
class Billing:
    """Where a call is billed: its organisation and that organisation's current subscription period."""
    tenant_id: uuid.UUID
    subscription_id: uuid.UUID
    period: tuple[datetime, datetime]


def prepare(call) -> Billing | None:
    """Find the organisation and period a call bills to and set `call.tenant_id` (one query, no
    write on the usual path); None when the call belongs to nobody (its user and chat deleted)."""
    found = _tenant_and_subscription(call)
    if found is None:
        return None
    tenant_id, subscription_id, period = found
    call.tenant_id = tenant_id
    return Billing(tenant_id, subscription_id, period)


def add(billing: Billing | None, call) -> None:
    """Add a priced call (tokens and cost set) to its subscription's period and the day/month
    counters: two upserts. Callers run this after updating the call's conversation, so every
    transaction takes the conversation's row before the counters' (no deadlock with a send)."""
    if billing is None:
        return
    at = call.responded_at or utcnow()
    cost = micros(call.total_cost_usd)
    _add_to_subscription(billing.subscription_id, billing.period, call.total_tokens or 0, cost, at)
    _add_to_counters(billing.tenant_id, call.user_id, at, input_tokens=call.input_tokens or 0,
                     output_tokens=call.output_tokens or 0, cost_micros=cost, requests=1)


def meter_call(call) -> None:
    """Bill a priced provider call to its organisation (prepare, then add) in the caller's transaction."""
    add(prepare(call), call)


def count_message(tenant_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """One answer asked for (a send, a regenerate, an edit): adds to messages_per_day's counts."""
    _add_to_counters(tenant_id, user_id, utcnow(), messages=1)


# --- reading ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DailyUsage:
    day: date
    tokens: int
    cost_micros: int
    messages: int


def counter_values(keys: list[str]) -> dict[str, UsageCounter]:
    """The usage_counters rows with those bucket keys (missing ones are simply absent)."""
    return {row.bucket_key: row for row in db.session.scalars(
        select(UsageCounter).where(UsageCounter.bucket_key.in_(keys)))}


def subscription_quantities(subscription_id: uuid.UUID, period_start: datetime) -> dict[str, int]:
    """{feature_key: quantity} metered for the subscription's period."""
    return dict(db.session.execute(select(SubscriptionUsage.feature_key, SubscriptionUsage.quantity).where(
        SubscriptionUsage.subscription_id == subscription_id, SubscriptionUsage.period_start == period_start)).all())


def daily_usage(tenant_id: uuid.UUID, start: date, end: date) -> list[DailyUsage]:
    """The organisation's usage per UTC day from `start` to `end` (both included), a row for every
    day (zeros where nothing was used): for the chart on /billing."""
    rows = {row.period_start: row for row in db.session.scalars(select(UsageCounter).where(
        UsageCounter.tenant_id == tenant_id, UsageCounter.user_id.is_(None), UsageCounter.granularity == "day",
        UsageCounter.period_start >= start, UsageCounter.period_start <= end))}
    days, day = [], start
    while day <= end:
        row = rows.get(day)
        days.append(DailyUsage(day, (row.input_tokens + row.output_tokens) if row else 0,
                               row.cost_micros if row else 0, row.messages if row else 0))
        day += timedelta(days=1)
    return days
