"""The /billing chart's arithmetic: every day of the period drawn, scaled to a round top, described."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from app.billing import charts


@dataclass
class Row:
    day: date
    tokens: int
    cost_micros: int
    messages: int


def test_every_day_of_the_period_is_a_column_scaled_to_a_round_top():
    rows = [Row(date(2026, 11, 3), 1_500, 12_345, 2), Row(date(2026, 11, 10), 180_000, 2_400_000, 9)]
    days = charts.fill_days(rows, date(2026, 11, 1), date(2026, 12, 1))
    assert len(days) == 30 and days[0] == charts.DayUsage(date(2026, 11, 1), 0, 0, 0)
    tokens = charts.daily_chart(days, "tokens")
    assert tokens.axis_top == 200_000 and tokens.axis_top_text == "200,000"
    tallest = max(tokens.bars, key=lambda bar: bar.height)
    assert tallest.title == "2026-11-10: 180,000 tokens" and 0 < tallest.height <= 100 and tallest.y >= 0
    assert all(bar.x >= 0 and bar.x + bar.width <= 100 for bar in tokens.bars)
    assert tokens.description == ("Tokens per day from 2026-11-01 to 2026-11-30: 181,500 tokens in all, "
                                  "most on 2026-11-10 (180,000 tokens).")
    cost = charts.daily_chart(days, "cost_micros")
    assert cost.axis_top_text == "$5.00" and "$2.41 in all" in cost.description


def test_an_empty_period_says_so_and_money_keeps_its_cents():
    days = charts.fill_days([], date(2026, 2, 1), date(2026, 3, 1))
    cost = charts.daily_chart(days, "cost_micros")
    assert len(cost.bars) == 28 and all(bar.height == 0 for bar in cost.bars)
    assert cost.axis_top_text == "$0.01" and cost.description.endswith("$0.00 in all, none yet.")
    assert [charts.dollars(value) for value in (0, 4_999, 5_000, 1_234_567_890)] == [
        "$0.00", "<$0.01", "$0.01", "$1,234.57"]
