"""Keeping the daily roll-ups exact, rebuilding them from the calls, and reading them for reports."""
from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Date, bindparam, case, cast, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.models.base import new_uuid, utcnow
from app.usage.models import CostAggregation

REBUILD_BATCH = 1000
# The numbers a call adds to its roll-up row.
ROLLED_UP = ("request_count", "success_count", "error_count", "total_tokens", "total_input_tokens",
             "total_output_tokens", "total_cost_usd", "total_latency_ms")


def bucket_key(day: date, user_id: uuid.UUID | None, provider: str, model: str, task_type: str) -> str:
    """The unique name of one roll-up row."""
    return f"{day.isoformat()}|{user_id or '-'}|{provider}|{model}|{task_type}"


def add_call(call) -> None:
    """Add one recorded provider call (a ModelRequest whose tokens and cost are set) to its day's
    roll-up row, in the caller's transaction: one upsert that creates the row with the call's own
    numbers or adds them to the row there (`n = n + excluded.n`), so concurrent calls cannot lose an
    update and the row is never read first."""
    day = call.requested_at.date()
    task_type = call.task_type or "chat"
    db.session.execute(_upsert(db.session.get_bind().dialect.name), {
        "id": new_uuid(), "aggregation_type": "daily", "aggregation_date": day, "user_id": call.user_id,
        "provider": call.provider, "model_id": call.model_name, "task_type": task_type,
        "bucket_key": bucket_key(day, call.user_id, call.provider, call.model_name, task_type),
        "request_count": 1, "success_count": 1 if call.status == "success" else 0,
        "error_count": 1 if call.status == "error" else 0, "total_tokens": call.total_tokens or 0,
        "total_input_tokens": call.input_tokens or 0, "total_output_tokens": call.output_tokens or 0,
        "total_cost_usd": call.total_cost_usd or Decimal("0"), "total_latency_ms": call.latency_ms or 0,
        "created_at": call.responded_at, "updated_at": call.responded_at})


@functools.cache
def _upsert(dialect_name: str):
    """add_call's statement, built once per process (only its parameters change)."""
    table = CostAggregation.__table__
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    names = ("id", "aggregation_type", "aggregation_date", "user_id", "provider", "model_id", "task_type",
             "bucket_key", *ROLLED_UP, "created_at", "updated_at")
    statement = dialect.insert(table).values({name: bindparam(name, type_=table.c[name].type) for name in names})
    return statement.on_conflict_do_update(
        index_elements=["bucket_key"],
        set_={**{name: table.c[name] + statement.excluded[name] for name in ROLLED_UP},
              "updated_at": statement.excluded.updated_at})


def _call_day(column):
    """The UTC calendar day of a timestamp column, in SQL."""
    if db.session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)  # SQLite keeps UTC as naive text


def rebuild() -> int:
    """Replace every roll-up row by sums over the recorded calls (`flask usage rollup`), in one
    transaction; returns how many rows were written. For repair: increments keep them exact."""
    from app.chat.models import ModelRequest  # usage reads calls only to rebuild; chat writes through add_call

    call = ModelRequest
    day = _call_day(call.requested_at).label("day")
    task = func.coalesce(call.task_type, "chat").label("task")
    statement = (
        select(day, call.user_id, call.provider, call.model_name, task, func.count(),
               func.sum(case_status(call.status, "success")), func.sum(case_status(call.status, "error")),
               func.coalesce(func.sum(call.total_tokens), 0), func.coalesce(func.sum(call.input_tokens), 0),
               func.coalesce(func.sum(call.output_tokens), 0), func.coalesce(func.sum(call.total_cost_usd), 0),
               func.coalesce(func.sum(call.latency_ms), 0), func.max(call.responded_at))
        .where(call.responded_at.is_not(None))
        .group_by(day, call.user_id, call.provider, call.model_name, task)
    )
    db.session.execute(delete(CostAggregation))
    written, batch = 0, []
    for row in db.session.execute(statement).all():
        (row_day, user_id, provider, model, task_type, requests, successes, errors,
         tokens, input_tokens, output_tokens, cost, latency, last_at) = row
        row_day = row_day if isinstance(row_day, date) else date.fromisoformat(row_day)
        batch.append({
            "id": new_uuid(), "aggregation_type": "daily", "aggregation_date": row_day, "user_id": user_id,
            "provider": provider, "model_id": model, "task_type": task_type,
            "bucket_key": bucket_key(row_day, user_id, provider, model, task_type),
            "request_count": requests, "success_count": successes or 0, "error_count": errors or 0,
            "total_tokens": tokens, "total_input_tokens": input_tokens, "total_output_tokens": output_tokens,
            "total_cost_usd": Decimal(str(cost)), "total_latency_ms": latency,
            "created_at": last_at, "updated_at": last_at})
        if len(batch) >= REBUILD_BATCH:
            db.session.execute(CostAggregation.__table__.insert(), batch)
            written, batch = written + len(batch), []
    if batch:
        db.session.execute(CostAggregation.__table__.insert(), batch)
        written += len(batch)
    db.session.commit()
    return written


def case_status(column, status: str):
    """1 where the call ended with `status`, else 0 (for SUM)."""
    return case((column == status, 1), else_=0)


@dataclass
class Totals:
    request_count: int = 0
    total_tokens: int = 0
    total_cost_usd: Decimal = Decimal("0")


def totals_between(start: date, end: date, user_id: uuid.UUID | None = None) -> Totals:
    """Requests, tokens and cost of the days start..end-1 (one user's, or everyone's)."""
    table = CostAggregation
    statement = select(func.coalesce(func.sum(table.request_count), 0), func.coalesce(func.sum(table.total_tokens), 0),
                       func.coalesce(func.sum(table.total_cost_usd), 0)).where(
        table.aggregation_date >= start, table.aggregation_date < end)
    if user_id is not None:
        statement = statement.where(table.user_id == user_id)
    requests, tokens, cost = db.session.execute(statement).one()
    return Totals(int(requests), int(tokens), Decimal(str(cost)))


@dataclass
class UsageRow:
    label: str
    request_count: int
    total_tokens: int
    total_input_tokens: int
    total_output_tokens: int
    total_cost_usd: Decimal
    error_count: int
    user_id: uuid.UUID | None = None


def _sums(table):
    return (func.sum(table.request_count), func.sum(table.total_tokens), func.sum(table.total_input_tokens),
            func.sum(table.total_output_tokens), func.sum(table.total_cost_usd), func.sum(table.error_count))


def _row(label: str, values, user_id=None) -> UsageRow:
    requests, tokens, input_tokens, output_tokens, cost, errors = values
    return UsageRow(label, int(requests or 0), int(tokens or 0), int(input_tokens or 0), int(output_tokens or 0),
                    Decimal(str(cost or 0)), int(errors or 0), user_id)


def by_day(start: date, end: date) -> list[UsageRow]:
    """One row per day from start to end-1, oldest first; days without calls are zeros."""
    table = CostAggregation
    found = {
        (day if isinstance(day, date) else date.fromisoformat(day)): values
        for day, *values in db.session.execute(
            select(table.aggregation_date, *_sums(table))
            .where(table.aggregation_date >= start, table.aggregation_date < end)
            .group_by(table.aggregation_date))
    }
    days = [start + timedelta(days=n) for n in range((end - start).days)]
    return [_row(day.isoformat(), found.get(day, (0, 0, 0, 0, 0, 0))) for day in days]


def by_model(start: date, end: date, limit: int = 50, user_id: uuid.UUID | None = None) -> list[UsageRow]:
    """Models by cost over the days start..end-1 (one user's calls, or everyone's), the most expensive first."""
    table = CostAggregation
    cost = func.sum(table.total_cost_usd)
    statement = select(table.provider, table.model_id, *_sums(table)).where(
        table.aggregation_date >= start, table.aggregation_date < end)
    if user_id is not None:
        statement = statement.where(table.user_id == user_id)
    rows = db.session.execute(
        statement.group_by(table.provider, table.model_id).order_by(cost.desc(), table.model_id).limit(limit))
    return [_row(f"{model} ({provider})", values) for provider, model, *values in rows]


def by_user(start: date, end: date, limit: int = 50) -> list[UsageRow]:
    """People by cost over the days start..end-1, the most expensive first, labelled by e-mail."""
    from app.auth.models import User

    table = CostAggregation
    cost = func.sum(table.total_cost_usd)
    grouped = (select(table.user_id, *_sums(table)).where(table.aggregation_date >= start,
                                                          table.aggregation_date < end)
               .group_by(table.user_id).order_by(cost.desc()).limit(limit).subquery())
    cost_column = grouped.c[5]  # user_id, then _sums(): requests, tokens, input, output, cost, errors
    rows = db.session.execute(
        select(grouped, User.email).outerjoin(User, User.id == grouped.c.user_id)
        .order_by(cost_column.desc(), User.email))
    return [_row(email or "(deleted account)", values, user_id) for user_id, *values, email in rows]


def today_utc(now: datetime | None = None) -> date:
    """Today's date in UTC."""
    return (now or utcnow()).date()
