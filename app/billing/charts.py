"""The /billing chart of daily usage over the subscription's period, drawn on the server as SVG (no
script, no library, no inline style: the CSP allows none). This module does the arithmetic; the
template templates/billing/_chart.html draws it with a <title>, a <desc> and the same numbers in a
visually hidden table for screen readers."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

WIDTH = 100.0   # the SVG's viewBox is WIDTH x HEIGHT, stretched to its box (preserveAspectRatio none)
HEIGHT = 100.0
TOP_MARGIN = 4.0


@dataclass(frozen=True)
class DayUsage:
    day: date
    tokens: int
    cost_micros: int
    messages: int


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class DailyChart:
    title: str
    description: str
    bars: list[Bar]
    axis_top: int          # the value at the top of the drawing
    axis_top_text: str
    first_day: date
    last_day: date
    days: list[DayUsage]   # every day of the period, zeros included (the hidden table's rows)


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5 x 10^n at or above `value` (at least 1): a round top for the axis."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if factor * step >= value:
                return factor * step
        step *= 10


def dollars(micros: int) -> str:
    """Micro-dollars as dollars with cents ("$1,234.57"); below a cent but not zero, "<$0.01"."""
    if 0 < micros < 5_000:
        return "<$0.01"
    cents = (micros + 5_000) // 10_000
    return f"${cents // 100:,}.{cents % 100:02d}"


def fill_days(rows, start: date, end: date) -> list[DayUsage]:
    """One DayUsage per day in [start, end), from rows with day, tokens, cost_micros and messages
    (metering.daily_usage's); missing days are zero."""
    by_day = {row.day: row for row in rows}
    days = []
    day = start
    while day < end:
        found = by_day.get(day)
        days.append(DayUsage(day, int(found.tokens or 0), int(found.cost_micros or 0), int(found.messages or 0))
                    if found else DayUsage(day, 0, 0, 0))
        day += timedelta(days=1)
    return days


def daily_chart(days: list[DayUsage], metric: str = "tokens") -> DailyChart:
    """Columns of `metric` ("tokens", "cost_micros" or "messages") per day, oldest left."""
    values = [getattr(day, metric) for day in days]
    # Cost's scale starts at a cent: a scale of "<$0.01" says nothing.
    top = max(nice_ceiling(max(values, default=0)), 10_000 if metric == "cost_micros" else 1)
    slot = WIDTH / max(len(days), 1)
    show = dollars if metric == "cost_micros" else (lambda value: f"{value:,}")
    noun = {"tokens": "tokens", "cost_micros": "cost", "messages": "messages"}[metric]
    bars = []
    for index, (usage, value) in enumerate(zip(days, values, strict=True)):
        height = round(value / top * (HEIGHT - TOP_MARGIN), 3)
        text = f"{usage.day.isoformat()}: {show(value)}" + ("" if metric == "cost_micros" else f" {noun}")
        bars.append(Bar(x=round(index * slot + slot * 0.15, 3), y=round(HEIGHT - height, 3),
                        width=round(slot * 0.7, 3), height=height, title=text))
    first, last = (days[0].day, days[-1].day) if days else (date.today(), date.today())
    busiest = max(zip(values, (day.day for day in days), strict=True), default=(0, first))
    total = sum(values)
    title = {"tokens": "Tokens per day", "cost_micros": "Cost per day", "messages": "Messages per day"}[metric]
    unit = "" if metric == "cost_micros" else f" {noun}"
    most = f", most on {busiest[1].isoformat()} ({show(busiest[0])}{unit})." if busiest[0] else ", none yet."
    description = f"{title} from {first.isoformat()} to {last.isoformat()}: {show(total)}{unit} in all{most}"
    return DailyChart(title=title, description=description, bars=bars, axis_top=top, axis_top_text=show(top),
                      first_day=first, last_day=last, days=days)
