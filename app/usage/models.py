"""The daily roll-up of provider calls (seed 000 `cost_aggregations`)."""
from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Optional

from sqlalchemy import BigInteger, Date, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import Timestamps, UUIDPrimaryKey, user_ref_set_null

MONEY = Numeric(18, 10)  # the same scale as model_requests' costs, so sums stay exact


class CostAggregation(UUIDPrimaryKey, Timestamps, db.Model):
    """Calls of one UTC day by one user to one model for one task: counts, tokens, cost, latency.

    `bucket_key` names the row ("day|user|provider|model|task"): a unique key that also holds when
    the user is unknown (NULLs never conflict in a unique index), so an upsert can find the row."""

    __tablename__ = "cost_aggregations"

    aggregation_type: Mapped[str] = mapped_column(String(20), default="daily")
    aggregation_date: Mapped[date] = mapped_column(Date)
    user_id: Mapped[Optional[uuid.UUID]] = user_ref_set_null()
    provider: Mapped[str] = mapped_column(String(30))
    model_id: Mapped[str] = mapped_column(String(200))  # the model's name as called (model_requests.model_name)
    task_type: Mapped[str] = mapped_column(String(30))
    bucket_key: Mapped[str] = mapped_column(String(320), unique=True)
    request_count: Mapped[int] = mapped_column(Integer, default=0)
    success_count: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    total_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    total_input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    total_output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    total_cost_usd: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    # A sum, so increments stay exact; the average is total_latency_ms / request_count.
    total_latency_ms: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (
        Index("ix_cost_aggregations_date", "aggregation_date"),
        Index("ix_cost_aggregations_user_date", "user_id", "aggregation_date"),
    )
