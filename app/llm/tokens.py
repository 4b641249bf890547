"""How many tokens a request will cost, estimated offline (no tokenizer files), per provider family,
and corrected by what the provider reported for recent calls.

The estimate is deliberately a little high: a request that the model must refuse is worse than one
that leaves out a message it could have taken. A calibration factor (reported input tokens ÷
estimated ones over a model's recent calls) brings it close to the model's real tokenizer.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    """How one tokenizer family counts, roughly: ASCII characters per token, tokens per other
    character (CJK is about one each, accented Latin and Cyrillic less), and the fixed cost of a
    message (its role and separators) and of a request (the answer's priming)."""

    ascii_chars_per_token: float
    tokens_per_other_char: float
    per_message: int
    per_request: int


# o200k / cl100k average ~4 ASCII characters per token on prose and code; Claude's tokenizer counts
# ~10-20% more for the same text. Non-ASCII text is counted high on purpose.
FAMILIES = {
    "openai": Family(ascii_chars_per_token=3.6, tokens_per_other_char=1.0, per_message=4, per_request=3),
    "anthropic": Family(ascii_chars_per_token=3.2, tokens_per_other_char=1.1, per_message=5, per_request=8),
}
DEFAULT_FAMILY = FAMILIES["openai"]

# A factor from fewer calls than this is noise; one outside these bounds is a misreport, not a tokenizer.
MIN_CALIBRATION_CALLS = 3
FACTOR_BOUNDS = (0.5, 3.0)


def family_for(provider: str) -> Family:
    """The counting rules of a provider (the openai family for any unknown one)."""
    return FAMILIES.get(provider, DEFAULT_FAMILY)


def estimate_text_tokens(text: str, family: Family = DEFAULT_FAMILY) -> int:
    """Tokens in `text` by `family`'s rules: ASCII by length, every other character on its own."""
    if not text:
        return 0
    ascii_count = len(text.encode("ascii", "ignore"))
    other_count = len(text) - ascii_count
    return int(ascii_count / family.ascii_chars_per_token + other_count * family.tokens_per_other_char) + 1


def estimate_message_tokens(text: str, family: Family = DEFAULT_FAMILY) -> int:
    """Tokens one chat message costs: its text and the message's fixed overhead."""
    return estimate_text_tokens(text, family) + family.per_message


def estimate_request_tokens(texts: Iterable[str], family: Family = DEFAULT_FAMILY) -> int:
    """Tokens of a whole request made of these messages' texts."""
    return family.per_request + sum(estimate_message_tokens(text, family) for text in texts)


def correction_factor(calls: Iterable[tuple[int | None, int | None]]) -> float:
    """Reported ÷ estimated input tokens over recent calls given as (estimated, reported) pairs;
    1.0 until there are MIN_CALIBRATION_CALLS usable ones. Bounded, so one odd report cannot
    make the app send nothing or everything."""
    usable = [(estimated, reported) for estimated, reported in calls if estimated and reported]
    if len(usable) < MIN_CALIBRATION_CALLS:
        return 1.0
    factor = sum(reported for _, reported in usable) / sum(estimated for estimated, _ in usable)
    return min(max(factor, FACTOR_BOUNDS[0]), FACTOR_BOUNDS[1])
