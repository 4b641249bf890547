"""Metering: every provider call adds its tokens, cost and one request to its organisation's counters,
and every answer asked for adds one message, in the caller's transaction.

All counting is `INSERT … ON CONFLICT DO UPDATE SET n = n + excluded.n` (SQLite and PostgreSQL), so
concurrent answers never lose an update and no counter is read before it is written. A call adds to:
- subscription_usage: monthly_tokens and monthly_cost (micro-dollars) of the organisation's current
  subscription period (what the plan's monthly limits compare against);
- usage_counters: the organisation's day and month, and the member's day and month (per-day
  limits, per-member caps, /billing's chart)."""
from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import (
    BigInteger,
    Date,
    String,
    Uuid,
    bindparam,
    func,
    inspect,
    literal,
    null,
    or_,
    select,
    true,
    union_all,
)
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


def bucket_suffix(user_id: uuid.UUID | None, granularity: str, period_start: date) -> str:
    """What follows the organisation in bucket_key(): its value for bucket_key_of()."""
    return "|" + _bucket_suffix(user_id, granularity, period_start)


def bucket_key_of(tenant_column, suffix):
    """bucket_key() in SQL, for an organisation known only to the statement (a column), the rest
    (`suffix`, see bucket_suffix()) given as a bound parameter."""
    return uuid_text(tenant_column) + suffix


def _insert(table):
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def _counter_periods(user_id, day: date | None) -> list[tuple]:
    """The usage_counters rows a use adds to, in the one order every transaction takes them: the
    organisation's day and month, then (with `user_id`) the member's day and month."""
    return [(who, granularity, start) for who in ([None, user_id] if user_id is not None else [None])
            for granularity, start in (("day", day), ("month", month_start(day) if day else None))]


def _on_counter_conflict(statement, columns):
    """Add to the row there (`n = n + excluded.n`) for `columns` (those with something to add)."""
    table = UsageCounter.__table__
    changed = {column: table.c[column] + statement.excluded[column] for column in columns}
    return statement.on_conflict_do_update(
        index_elements=["bucket_key"], set_={**changed, "updated_at": statement.excluded.updated_at})


@functools.cache
def _counting_statement(dialect_name: str, counter_rows: int, columns: tuple[str, ...]):
    """The upsert of _add_to_counters(), built once per process (bound parameters: tenant_id, user_id,
    at, day, month, id_<n>, key_<n> and COUNTER_COLUMNS), adding to `columns` where a row is there."""
    insert = (postgresql if dialect_name == "postgresql" else sqlite).insert
    periods = _counter_periods(bindparam("user_id", type_=Uuid) if counter_rows == 4 else None, None)
    at = bindparam("at", type_=UTCDateTime)
    rows = [{"id": bindparam(f"id_{n}", type_=Uuid), "tenant_id": bindparam("tenant_id", type_=Uuid),
             "user_id": who, "period_start": bindparam(granularity if granularity == "day" else "month", type_=Date),
             "granularity": granularity, "bucket_key": bindparam(f"key_{n}", type_=String), "storage_bytes": 0,
             "created_at": at, "updated_at": at, **{column: bindparam(column, type_=BigInteger)
                                                     for column in COUNTER_COLUMNS}}
            for n, (who, granularity, _start) in enumerate(periods)]
    return _on_counter_conflict(insert(UsageCounter.__table__).values(rows), columns)


def _add_to_counters(tenant_id: uuid.UUID, user_id: uuid.UUID | None, at: datetime, **amounts: int) -> None:
    """Add `amounts` to the organisation's and (with `user_id`) the member's day and month rows: one upsert."""
    day = at.date()
    periods = _counter_periods(user_id, day)
    parameters = {"tenant_id": tenant_id, "user_id": user_id, "at": at, "day": day, "month": month_start(day),
                  **{column: amounts.get(column, 0) for column in COUNTER_COLUMNS}}
    for n, (who, granularity, start) in enumerate(periods):
        parameters[f"id_{n}"] = new_uuid()
        parameters[f"key_{n}"] = bucket_key(tenant_id, who, granularity, start)
    changed = tuple(column for column in COUNTER_COLUMNS if amounts.get(column))
    db.session.execute(_counting_statement(db.session.get_bind().dialect.name, len(periods), changed), parameters)


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


def _current_subscription_of_call():
    """The stored call's (:call_id) organisation, as its row names it, with that organisation's live
    subscription and period while that period is current (at :now): one row, or none (no
    organisation, no subscription yet, or a manual period to roll forward)."""
    from app.chat.models import ModelRequest

    tenant = select(ModelRequest.tenant_id).where(ModelRequest.id == bindparam("call_id", type_=Uuid))
    live = aliased(TenantSubscription, name="live")
    live_id = (select(live.id).where(live.tenant_id == tenant.scalar_subquery(),
                                     live.status.in_(subscriptions.LIVE_STATUSES))
               .order_by(live.created_at.desc(), live.id.desc()).limit(1).scalar_subquery())
    subscription = TenantSubscription
    return select(subscription.tenant_id, subscription.id.label("subscription_id"),
                  subscription.current_period_start, subscription.current_period_end).where(
        subscription.id == live_id,
        or_(subscription.processor != "manual", subscription.current_period_end > bindparam("now", type_=UTCDateTime)))


def _rows_of(name: str, rows: list[dict]):
    """Rows as a subquery (a UNION ALL of one-row SELECTs: VALUES lists differ between databases)."""
    return union_all(*[select(*[value.label(column) for column, value in row.items()]) for row in rows]).subquery(name)


CALL_COLUMNS = ("input_tokens", "output_tokens", "cost_micros", "requests")  # what a provider call adds to


@functools.cache
def _metering_statements(dialect_name: str, counter_rows: int) -> tuple:
    """The statements that add a stored call to its organisation's current subscription period and
    counters, built once per process (bound parameters: call_id, now, at, tokens, cost_micros,
    usage_id_<n>, counter_id_<n>, user_id, day, month, suffix_<n> and CALL_COLUMNS): one on PostgreSQL,
    a CTE that writes the subscription's rows first, then the counters (their SELECT waits for the
    count of the rows written); the same two apart elsewhere. Each returns rows only when it wrote."""
    insert = (postgresql if dialect_name == "postgresql" else sqlite).insert
    billed = _current_subscription_of_call().cte("billed")
    at = bindparam("at", type_=UTCDateTime)
    amounts = _rows_of("amounts", [
        {"n": literal(n), "id": bindparam(f"usage_id_{n}", type_=Uuid), "feature_key": literal(key, String),
         "unit": literal(FEATURES[key], String), "quantity": bindparam(parameter, type_=BigInteger)}
        for n, (key, parameter) in enumerate((("monthly_tokens", "tokens"), ("monthly_cost", "cost_micros")))])
    usage = _on_usage_conflict(insert(SubscriptionUsage.__table__).from_select(
        ["id", "subscription_id", "feature_key", "unit", "period_start", "period_end", "quantity", "reported_at"],
        select(amounts.c.id, billed.c.subscription_id, amounts.c.feature_key, amounts.c.unit,
               billed.c.current_period_start, billed.c.current_period_end, amounts.c.quantity, at)
        .select_from(billed).join(amounts, true()).where(true()).order_by(amounts.c.n))
    ).returning(SubscriptionUsage.__table__.c.subscription_id)
    periods = _counter_periods(bindparam("user_id", type_=Uuid) if counter_rows == 4 else None, None)
    buckets = _rows_of("buckets", [
        {"n": literal(n), "id": bindparam(f"counter_id_{n}", type_=Uuid),
         "user_id": who if who is not None else null().cast(Uuid),
         "period_start": bindparam("day" if granularity == "day" else "month", type_=Date),
         "granularity": literal(granularity, String), "suffix": bindparam(f"suffix_{n}", type_=String)}
        for n, (who, granularity, _start) in enumerate(periods)])
    source = (select(buckets.c.id, billed.c.tenant_id, buckets.c.user_id, buckets.c.period_start,
                     buckets.c.granularity, bucket_key_of(billed.c.tenant_id, buckets.c.suffix),
                     literal(0, BigInteger), at, at,
                     *[bindparam(column, type_=BigInteger) if column in CALL_COLUMNS else literal(0, BigInteger)
                       for column in COUNTER_COLUMNS])
              .select_from(billed).join(buckets, true()).order_by(buckets.c.n))
    columns = ["id", "tenant_id", "user_id", "period_start", "granularity", "bucket_key", "storage_bytes",
               "created_at", "updated_at", *COUNTER_COLUMNS]
    if dialect_name == "postgresql":
        metered = usage.cte("metered")
        source = source.where(select(func.count()).select_from(metered).scalar_subquery() > 0)
        counters = _on_counter_conflict(insert(UsageCounter.__table__).from_select(columns, source), CALL_COLUMNS)
        return (counters.returning(UsageCounter.__table__.c.tenant_id).add_cte(metered),)
    counters = _on_counter_conflict(insert(UsageCounter.__table__).from_select(columns, source.where(true())),
                                    CALL_COLUMNS)
    return usage, counters.returning(UsageCounter.__table__.c.tenant_id)


def _add_in_sql(call, tokens: int, cost_micros: int, at: datetime, amounts: dict[str, int]) -> uuid.UUID | None:
    """Add a stored call to its organisation's current subscription period and counters, the
    organisation and subscription found by the statements themselves (see _metering_statements).
    Returns the organisation, or None when nothing was added (see _current_subscription_of_call)."""
    day = at.date()
    periods = _counter_periods(call.user_id, day)
    parameters = {"call_id": call.id, "now": utcnow(), "at": at, "tokens": tokens, "cost_micros": cost_micros,
                  "usage_id_0": new_uuid(), "usage_id_1": new_uuid(), "user_id": call.user_id, "day": day,
                  "month": month_start(day), **{column: amounts[column] for column in CALL_COLUMNS}}
    for n, (who, granularity, start) in enumerate(periods):
        parameters[f"counter_id_{n}"] = new_uuid()
        parameters[f"suffix_{n}"] = bucket_suffix(who, granularity, start)
    statements = _metering_statements(db.session.get_bind().dialect.name, len(periods))
    for statement in statements[:-1]:
        if db.session.execute(statement, parameters).first() is None:
            return None
    return db.session.execute(statements[-1], parameters).scalars().first()


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
