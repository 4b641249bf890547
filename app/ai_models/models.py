"""A registered model: provider, endpoint, where its key comes from, limits and prices."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Optional

from sqlalchemy import Boolean, CheckConstraint, Integer, Numeric, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import JSONType, UTCDateTime, utcnow

PRICE = Numeric(14, 6)  # USD per million tokens
DEFAULT_FIRST_TOKEN_TIMEOUT = 300  # seconds: reasoning models often think for minutes before a word
DEFAULT_IDLE_TIMEOUT = 120
TIMEOUT_RANGE = (1, 3600)  # seconds, for both limits (the form and a CHECK constraint)


class AIModel(db.Model):
    __tablename__ = "ai_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))  # display name
    provider: Mapped[str] = mapped_column(String(30))
    model_id: Mapped[str] = mapped_column(String(200))
    base_url: Mapped[Optional[str]] = mapped_column(String(500), nullable=True)
    # The NAME of an environment variable holding the key; the key itself is never stored.
    api_key_env: Mapped[Optional[str]] = mapped_column(String(100), nullable=True)
    context_window: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    max_tokens: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)  # max output tokens
    input_cost_per_million: Mapped[Decimal] = mapped_column(PRICE, default=Decimal("0"))
    output_cost_per_million: Mapped[Decimal] = mapped_column(PRICE, default=Decimal("0"))
    cached_input_cost_per_million: Mapped[Decimal] = mapped_column(PRICE, default=Decimal("0"))
    pricing_updated_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True, default=utcnow)
    allowed_roles: Mapped[list] = mapped_column(JSONType, default=list)  # empty: every role
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The model that writes conversations' running summaries (the first active one so marked).
    is_summary_model: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # How long an answer may wait for the first token (text or reasoning; retries included), and then
    # how long the model may fall silent, before the answer fails with a message naming the limit.
    first_token_timeout_seconds: Mapped[int] = mapped_column(
        Integer, default=DEFAULT_FIRST_TOKEN_TIMEOUT, server_default=str(DEFAULT_FIRST_TOKEN_TIMEOUT))
    idle_timeout_seconds: Mapped[int] = mapped_column(
        Integer, default=DEFAULT_IDLE_TIMEOUT, server_default=str(DEFAULT_IDLE_TIMEOUT))
    # Reasoning options the model takes; the request sends only these (OpenAI's reasoning_effort,
    # Anthropic's extended thinking with a token budget).
    accepts_reasoning_effort: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    accepts_thinking_budget: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("provider", "model_id", "base_url", name="uq_ai_models_provider_model"),
        CheckConstraint("input_cost_per_million >= 0 AND output_cost_per_million >= 0 "
                        "AND cached_input_cost_per_million >= 0", name="prices_not_negative"),
        CheckConstraint("max_tokens IS NULL OR max_tokens > 0", name="max_tokens_positive"),
        CheckConstraint("context_window IS NULL OR context_window > 0", name="context_window_positive"),
        CheckConstraint(f"first_token_timeout_seconds BETWEEN {TIMEOUT_RANGE[0]} AND {TIMEOUT_RANGE[1]}",
                        name="first_token_timeout_range"),
        CheckConstraint(f"idle_timeout_seconds BETWEEN {TIMEOUT_RANGE[0]} AND {TIMEOUT_RANGE[1]}",
                        name="idle_timeout_range"),
    )

    @property
    def is_demo(self) -> bool:
        return self.provider == "echo"

    @property
    def picker_label(self) -> str:
        return f"{self.name} (demo, offline)" if self.is_demo else self.name

    def allows_role(self, role: str) -> bool:
        return not self.allowed_roles or role in self.allowed_roles
