"""/admin/usage "By person": the most expensive person first (not the one with the most output tokens),
on the page, in its chart and in the CSV."""
from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from app.extensions import db
from app.usage import services as usage
from app.usage.models import CostAggregation
from tests.factories import make_user

pytestmark = pytest.mark.postgres


def _spent(user, cost: str, output_tokens: int) -> None:
    day = usage.today_utc()
    db.session.add(CostAggregation(
        aggregation_date=day, user_id=user.id, provider="openai", model_id="gpt-test", task_type="chat",
        bucket_key=f"{day}|{user.id}|openai|gpt-test|chat", request_count=1, success_count=1, error_count=0,
        total_tokens=output_tokens + 10, total_input_tokens=10, total_output_tokens=output_tokens,
        total_cost_usd=Decimal(cost), total_latency_ms=100))


def test_people_are_listed_by_cost_the_most_expensive_first(login_as):
    admin = login_as("admin")
    cheap_but_wordy, dear, middle = (make_user(email=f"{name}@example.org") for name in ("wordy", "dear", "middle"))
    _spent(cheap_but_wordy, "0.10", 90_000)
    _spent(dear, "7.00", 100)
    _spent(middle, "2.50", 5_000)
    db.session.commit()

    html = admin.get("/admin/usage?days=7").get_data(as_text=True)
    table = html.split("<h2>By person</h2>", 1)[1]
    rows = list(csv.reader(io.StringIO(admin.get("/admin/usage.csv?by=user&days=7").get_data(as_text=True))))

    order = ["dear@example.org", "middle@example.org", "wordy@example.org"]
    assert sorted(order, key=table.index) == order  # the chart's bars, then the table, in this order
    table_rows = table.split("<tbody>", 1)[1]
    assert sorted(order, key=table_rows.index) == order
    assert [row[0] for row in rows[1:]] == order
    assert login_as("user").get("/admin/usage").status_code == 403
