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

from sqlalchemy import BigInteger, Date, Integer, String, Uuid, func, inspect, literal, or_, select, true, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.functions import FunctionElement

from app.billing import subscriptions
from app.billing.models import FEATURES, SubscriptionUsage, TenantAccount, TenantSubscription, UsageCounter
from app.extensions import db
from app.models.base import UTCDateTime, new_uuid, utcnow

COUNTER_COLUMNS = ("input_tokens", "output_tokens", "cost_micros", "requests", "messages")
MICROS = Decimal("1000000")


def micros(usd: Decimal | None) -> int:
    """Dollars as whole micro-dollars (half up): how metered cost is counted and limited."""
    return int((Decimal(usd or 0) * MICROS).to_integral_value(rounding=ROUND_HALF_UP))


def month_start(day: date) -> date:
    return day.replace(day=1)


def bucket_key(tenant_id: uuid.UUID, user_id: uuid.UUID | None, granularity: str, period_start: date) -> str:
    """The unique name of one usage_counters row (user "-" for the organisation's own)."""
    return f"{tenant_id}|{_bucket_suffix(user_id, granularity, period_start)}"


def _bucket_suffix(user_id: uuid.UUID | None, granularity: str, period_start: date) -> str:
    return f"{user_id or '-'}|{granularity}|{period_start.isoformat()}"


class uuid_text(FunctionElement):  # noqa: N801 - used like a SQL function
    """A UUID column as str(uuid) writes it (lowercase, hyphens): bucket keys built in SQL."""

    type = String()
    name = "uuid_text"
    inherit_cache = True


@compiles(uuid_text, "postgresql")
def _uuid_text_postgresql(element, compiler, **kw):
    return f"CAST({compiler.process(element.clauses, **kw)} AS TEXT)"


@compiles(uuid_text)
def _uuid_text_hex(element, compiler, **kw):
    # Elsewhere (SQLite) a UUID is kept as its 32 lowercase hex digits: put the hyphens in.
    column = compiler.process(element.clauses, **kw)
    parts = [f"substr({column}, {start}, {length})" for start, length in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))]
    return "(" + " || '-' || ".join(parts) + ")"


def bucket_key_of(tenant_column, user_id: uuid.UUID | None, granularity: str, period_start: date):
    """bucket_key() in SQL, for an organisation known only to the statement (a column)."""
    return uuid_text(tenant_column) + literal("|" + _bucket_suffix(user_id, granularity, period_start), String)


def _insert(table):
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def _counter_periods(user_id: uuid.UUID | None, day: date) -> list[tuple[uuid.UUID | None, str, date]]:
    """The usage_counters rows a use adds to, in the one order every transaction takes them: the
    organisation's day and month, then (with `user_id`) the member's day and month."""
    return [(who, granularity, start) for who in ([None, user_id] if user_id else [None])
            for granularity, start in (("day", day), ("month", month_start(day)))]


def _on_counter_conflict(statement, amounts: dict[str, int]):
    """Add to the row there (`n = n + excluded.n`) for the columns with something to add."""
    table = UsageCounter.__table__
    changed = {column: table.c[column] + statement.excluded[column]
               for column in COUNTER_COLUMNS if amounts.get(column)}
    return statement.on_conflict_do_update(
        index_elements=["bucket_key"], set_={**changed, "updated_at": statement.excluded.updated_at})


def _add_to_counters(tenant_id: uuid.UUID, user_id: uuid.UUID | None, at: datetime, **amounts: int) -> None:
    """Add `amounts` to the organisation's and (with `user_id`) the member's day and month rows: one upsert."""
    rows = [{"id": new_uuid(), "tenant_id": tenant_id, "user_id": who, "period_start": start,
             "granularity": granularity, "bucket_key": bucket_key(tenant_id, who, granularity, start),
             "storage_bytes": 0, "created_at": at, "updated_at": at,
             **{column: amounts.get(column, 0) for column in COUNTER_COLUMNS}}
            for who, granularity, start in _counter_periods(user_id, at.date())]
    db.session.execute(_on_counter_conflict(_insert(UsageCounter.__table__).values(rows), amounts))


def _on_usage_conflict(statement):
    quantity = SubscriptionUsage.__table__.c.quantity
    return statement.on_conflict_do_update(
        index_elements=["subscription_id", "feature_key", "period_start"],
        set_={"quantity": quantity + statement.excluded.quantity, "reported_at": statement.excluded.reported_at})


def _add_to_subscription(subscription_id: uuid.UUID, period: tuple[datetime, datetime], tokens: int,
                         cost_micros: int, at: datetime) -> None:
    """Add the call's tokens and cost to the subscription's period rows: one upsert."""
    rows = [{"id": new_uuid(), "subscription_id": subscription_id, "feature_key": key, "unit": FEATURES[key],
             "period_start": period[0], "period_end": period[1], "quantity": quantity, "reported_at": at}
            for key, quantity in (("monthly_tokens", tokens), ("monthly_cost", cost_micros))]
    db.session.execute(_on_usage_conflict(_insert(SubscriptionUsage.__table__).values(rows)))


def _tenant_and_subscription(tenant_id: uuid.UUID | None, chat_id: uuid.UUID | None, user_id: uuid.UUID | None
                             ) -> tuple[uuid.UUID, uuid.UUID, tuple[datetime, datetime]] | None:
    """(organisation, its current subscription, the period) for a call: the organisation `tenant_id`,
    else the conversation's, else the user's personal one (made if missing); the subscription made or
    its manual period rolled forward when needed. None when the call belongs to nobody."""
    from app.chat.models import Conversation  # chat calls metering; metering reads only this column

    if tenant_id is None and chat_id is not None:
        tenant_id = db.session.scalar(select(Conversation.tenant_id).where(Conversation.id == chat_id))
    if tenant_id is None:
        if user_id is None:
            return None
        tenant_id = subscriptions.personal_organisation(user_id).id
    subscription = subscriptions.current_subscription(tenant_id)
    return tenant_id, subscription.id, (subscription.current_period_start, subscription.current_period_end)


def _tenant_of(chat_id: uuid.UUID | None, user_id: uuid.UUID | None):
    """The organisation a call without one bills to, in SQL (its conversation's, else its user's
    personal one); None when it has neither."""
    from app.chat.models import Conversation

    candidates = []
    if chat_id is not None:
        candidates.append(select(Conversation.tenant_id).where(Conversation.id == chat_id).scalar_subquery())
    if user_id is not None:
        candidates.append(select(TenantAccount.id).where(TenantAccount.personal_user_id == user_id)
                          .scalar_subquery())
    if not candidates:
        return None
    return func.coalesce(*candidates) if len(candidates) > 1 else candidates[0]


def _current_subscription_of_call(call_id: uuid.UUID, now: datetime):
    """The call's organisation (as its stored row names it) with that organisation's live subscription
    and period, while that period is current: one row, or none (no organisation, no subscription yet,
    or a manual period to roll forward)."""
    from app.chat.models import ModelRequest

    tenant = select(ModelRequest.tenant_id).where(ModelRequest.id == call_id).scalar_subquery()
    live = aliased(TenantSubscription, name="live")
    live_id = (select(live.id).where(live.tenant_id == tenant, live.status.in_(subscriptions.LIVE_STATUSES))
               .order_by(live.created_at.desc(), live.id.desc()).limit(1).scalar_subquery())
    subscription = TenantSubscription
    return select(subscription.tenant_id, subscription.id.label("subscription_id"),
                  subscription.current_period_start, subscription.current_period_end).where(
        subscription.id == live_id,
        or_(subscription.processor != "manual", subscription.current_period_end > now))


def _rows_of(*rows: dict):
    """Literal rows as a subquery (a UNION ALL of one-row SELECTs: VALUES lists differ between
    databases), with `n` giving their order."""
    selects = [select(*[literal(value, type_).label(name) for name, (value, type_) in row.items()]) for row in rows]
    return union_all(*selects).subquery("amounts")


def _add_in_sql(call, tokens: int, cost_micros: int, at: datetime, amounts: dict[str, int]) -> uuid.UUID | None:
    """Add a stored call to its organisation's current subscription period and counters, the
    organisation and subscription found by the statements themselves: one statement on PostgreSQL
    (the subscription's rows, then the counters, in that order), two elsewhere. Returns the
    organisation, or None when nothing was added (see _current_subscription_of_call)."""
    billed = _current_subscription_of_call(call.id, utcnow()).cte("billed")
    usage_rows = _rows_of(*[{"n": (n, Integer), "id": (new_uuid(), Uuid), "feature_key": (key, String),
                             "unit": (FEATURES[key], String), "quantity": (quantity, BigInteger)}
                            for n, (key, quantity) in enumerate((("monthly_tokens", tokens),
                                                                 ("monthly_cost", cost_micros)))])
    usage = _on_usage_conflict(_insert(SubscriptionUsage.__table__).from_select(
        ["id", "subscription_id", "feature_key", "unit", "period_start", "period_end", "quantity", "reported_at"],
        select(usage_rows.c.id, billed.c.subscription_id, usage_rows.c.feature_key, usage_rows.c.unit,
               billed.c.current_period_start, billed.c.current_period_end, usage_rows.c.quantity,
               literal(at, UTCDateTime)).select_from(billed).join(usage_rows, true()).where(true())
        .order_by(usage_rows.c.n))).returning(SubscriptionUsage.__table__.c.subscription_id)
    counter_rows = _rows_of(*[{"n": (n, Integer), "id": (new_uuid(), Uuid), "user_id": (who, Uuid),
                               "period_start": (start, Date), "granularity": (granularity, String),
                               "suffix": ("|" + _bucket_suffix(who, granularity, start), String)}
                              for n, (who, granularity, start) in enumerate(_counter_periods(call.user_id,
                                                                                             at.date()))])
    counters_source = (
        select(counter_rows.c.id, billed.c.tenant_id, counter_rows.c.user_id, counter_rows.c.period_start,
               counter_rows.c.granularity, uuid_text(billed.c.tenant_id) + counter_rows.c.suffix,
               literal(0, BigInteger), literal(at, UTCDateTime), literal(at, UTCDateTime),
               *[literal(amounts.get(column, 0), BigInteger) for column in COUNTER_COLUMNS])
        .select_from(billed).join(counter_rows, true()).order_by(counter_rows.c.n))
    counter_columns = ["id", "tenant_id", "user_id", "period_start", "granularity", "bucket_key", "storage_bytes",
                       "created_at", "updated_at", *COUNTER_COLUMNS]
    if db.session.get_bind().dialect.name == "postgresql":
        # The subscription's rows are written (and locked) first: the counters' SELECT waits for them.
        metered = usage.cte("metered")
        counters_source = counters_source.where(select(func.count()).select_from(metered).scalar_subquery() > 0)
        counters = _on_counter_conflict(_insert(UsageCounter.__table__).from_select(
            counter_columns, counters_source), amounts).returning(UsageCounter.__table__.c.tenant_id)
        return db.session.execute(counters.add_cte(metered)).scalars().first()
    if db.session.execute(usage).first() is None:
        return None
    counters = _on_counter_conflict(_insert(UsageCounter.__table__).from_select(
        counter_columns, counters_source.where(true())), amounts).returning(UsageCounter.__table__.c.tenant_id)
    return db.session.execute(counters).scalars().first()


@dataclass(frozen=True)
class Billing:
    """What prepare() knew of a call's organisation: the one named on the call itself, if any (else
    the call's row names it, set by its INSERT)."""
    given_tenant_id: uuid.UUID | None


def prepare(call) -> Billing | None:
    """Name the organisation a call bills to, without a query: its own `call.tenant_id`, else its
    conversation's, else its user's personal one, given to `call.tenant_id` as a SQL expression its
    INSERT evaluates. None when the call belongs to nobody (its user and chat deleted)."""
    given = call.tenant_id
    if given is None:
        tenant = _tenant_of(call.chat_id, call.user_id)
        if tenant is None:
            return None
        call.tenant_id = tenant
    if call.id is None:
        call.id = new_uuid()
    return Billing(given)


def add(billing: Billing | None, call) -> None:
    """Add a priced call (tokens and cost set) to its organisation's current subscription period and
    its day/month counters: one statement on PostgreSQL (two elsewhere) when the call is stored in
    this session and its organisation has a current subscription; else the organisation is found (the
    personal one made, the subscription made or rolled forward) and added to apart. Callers run this
    after updating the call's conversation, so every transaction takes the conversation's row before
    the counters' (no deadlock with a send)."""
    if billing is None:
        return
    at = call.responded_at or utcnow()
    cost, tokens = micros(call.total_cost_usd), call.total_tokens or 0
    amounts = {"input_tokens": call.input_tokens or 0, "output_tokens": call.output_tokens or 0,
               "cost_micros": cost, "requests": 1}
    if call in db.session:
        if inspect(call).pending:
            db.session.flush()
        tenant_id = _add_in_sql(call, tokens, cost, at, amounts)
        if tenant_id is not None:
            set_committed_value(call, "tenant_id", tenant_id)  # what the INSERT stored: no reload
            return
    found = _tenant_and_subscription(billing.given_tenant_id, call.chat_id, call.user_id)
    if found is None:
        return
    tenant_id, subscription_id, period = found
    call.tenant_id = tenant_id
    _add_to_subscription(subscription_id, period, tokens, cost, at)
    _add_to_counters(tenant_id, call.user_id, at, **amounts)


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
