"""Cost of a call from the registry's prices per million tokens. Decimal only, never float."""
from __future__ import annotations

from decimal import Decimal

MILLION = Decimal(1_000_000)
QUANTUM = Decimal("0.0000000001")


def cost_usd(input_tokens: int, output_tokens: int, cached_input_tokens: int,
             price_in_per_m: Decimal | None, price_out_per_m: Decimal | None,
             price_cached_per_m: Decimal | None) -> Decimal:
    """Cost in USD. Cached tokens are part of `input_tokens` (as OpenAI reports them) and are billed
    at the cached price instead of the input price."""
    price_in = Decimal(price_in_per_m or 0)
    price_out = Decimal(price_out_per_m or 0)
    price_cached = Decimal(price_cached_per_m or 0)
    cached = min(max(cached_input_tokens, 0), max(input_tokens, 0))
    uncached = max(input_tokens, 0) - cached
    total = (uncached * price_in + cached * price_cached + max(output_tokens, 0) * price_out) / MILLION
    return total.quantize(QUANTUM)
