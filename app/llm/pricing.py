"""Cost of a provider call from the registry's prices, in USD. Decimal only, never float.

`price(usage, model)` is the one way to price a call; chat.model_requests.record() calls it for
every call it records (answers, titles, summaries), so nothing else does money arithmetic.

Convention: `cached_input_tokens` is a part of `input_tokens`, not added to it, as OpenAI reports
usage (the Anthropic provider converts its counts to this). So the cached tokens are billed at the
cached price and only the rest of the input at the input price.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from app.llm.base import Usage

MILLION = Decimal(1_000_000)
QUANTUM = Decimal("0.0000000001")  # 10 decimal places, as stored


class Priced(Protocol):
    """What pricing reads from a model (a registry row): USD per million tokens, None for free."""

    input_cost_per_million: Decimal | None
    output_cost_per_million: Decimal | None
    cached_input_cost_per_million: Decimal | None


@dataclass(frozen=True)
class Cost:
    """The cost of one call: its input part (cached tokens included) and output part add up to
    `total_usd` exactly, each with at most 10 decimal places."""

    input_usd: Decimal
    output_usd: Decimal
    total_usd: Decimal


NO_COST = Cost(Decimal("0"), Decimal("0"), Decimal("0"))


def price(usage: Usage | None, model: Priced | None) -> Cost:
    """What `usage` costs at `model`'s prices; no usage reported, or no model (deleted since), costs
    nothing. The total is rounded once; the output part is the total less the input part."""
    if usage is None or model is None:
        return NO_COST
    prices = (model.input_cost_per_million, model.output_cost_per_million, model.cached_input_cost_per_million)
    total = cost_usd(usage.input_tokens, usage.output_tokens, usage.cached_input_tokens, *prices)
    input_part = cost_usd(usage.input_tokens, 0, usage.cached_input_tokens, *prices)
    return Cost(input_usd=input_part, output_usd=total - input_part, total_usd=total)


def cost_usd(input_tokens: int, output_tokens: int, cached_input_tokens: int,
             price_in_per_m: Decimal | None, price_out_per_m: Decimal | None,
             price_cached_per_m: Decimal | None) -> Decimal:
    """The exact cost, quantized to 10 decimal places. Prices are USD per million tokens; a None
    price counts as 0. Negative counts count as 0; cached tokens beyond the input are ignored."""
    price_in, price_out, price_cached = (_price(p) for p in (price_in_per_m, price_out_per_m, price_cached_per_m))
    input_tokens, output_tokens = max(input_tokens, 0), max(output_tokens, 0)
    cached = min(max(cached_input_tokens, 0), input_tokens)
    total = ((input_tokens - cached) * price_in + cached * price_cached + output_tokens * price_out) / MILLION
    return total.quantize(QUANTUM)


def _price(value: Decimal | None) -> Decimal:
    if value is None:
        return Decimal(0)
    if isinstance(value, float):
        # A float price has already lost exactness (0.1 is not 0.1): refuse it rather than bill with it.
        raise TypeError("prices must be Decimal, not float")
    return Decimal(value)
