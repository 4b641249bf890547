"""Provider calls: one row per call to a model, with its timing, tokens and cost.

`record()` is the single entry point for "a provider call was made": it prices the call (through
llm.pricing.price), stores its row and adds its tokens and cost to the conversation's totals.
Answers, titles and summaries go through it, and so will the API and billing's metering."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update

from app.ai_models.services import stream_from
from app.billing import metering
from app.chat.models import Conversation, ModelRequest
from app.extensions import db
from app.llm.base import GenerationRequest, ProviderError, TextDelta, Usage
from app.llm.pricing import Cost, Priced, price
from app.models.base import utcnow
from app.usage import services as usage_rollups

RECENT_FAILURES = 10


def call_for_text(call: ModelRequest, model, request: GenerationRequest) -> tuple[str, Usage | None]:
    """Ask `model` for a short text outside any answer (a title, a summary), record the call through
    `record()` (status and error on `call`), and return the text with the usage the provider reported.
    A provider error leaves `call.status == "error"` and returns what arrived before it."""
    parts, usage = [], None
    try:
        for event in stream_from(model, request):
            if isinstance(event, TextDelta):
                parts.append(event.text)
            elif isinstance(event, Usage):
                usage = event
        call.status = "success"
    except ProviderError as error:
        call.status, call.error_code, call.error_message = "error", error.code, error.message
    record(call, usage, model)
    return "".join(parts), usage


def record(call: ModelRequest, usage: Usage | None, model: Priced | None, *, at: datetime | None = None,
           active_at: datetime | None = None) -> Cost:
    """Finish a provider call's row: its end time `at` (now by default) and latency, its tokens and
    its cost at `model`'s prices; add the row to the session, to its day's usage roll-up and the
    tokens and cost to its conversation's totals (marking the conversation active at `active_at`, if given). Part of the
    caller's transaction, which commits. Returns the cost."""
    call.responded_at = at or utcnow()
    call.latency_ms = _milliseconds(call.requested_at, call.responded_at)
    if call.first_token_at:
        call.time_to_first_token_ms = _milliseconds(call.requested_at, call.first_token_at)
    cost = price(usage, model)
    call.input_tokens, call.output_tokens, call.cached_input_tokens = (
        (usage.input_tokens, usage.output_tokens, usage.cached_input_tokens) if usage else (0, 0, 0))
    call.total_tokens = call.input_tokens + call.output_tokens
    call.reasoning_tokens = usage.reasoning_tokens if usage else None  # already in output_tokens and their cost
    call.input_cost_usd, call.output_cost_usd, call.total_cost_usd = cost.input_usd, cost.output_usd, cost.total_usd
    billing = metering.prepare(call)  # the organisation it bills to (sets call.tenant_id)
    db.session.add(call)
    usage_rollups.add_call(call)  # the day's roll-up row, in this same transaction
    if call.chat_id is not None:
        add_to_conversation_totals(call.chat_id, usage, cost, active_at=active_at)
    metering.add(billing, call)  # its organisation's counters, after the conversation's row (lock order)
    return cost


def add_to_conversation_totals(conversation_id: uuid.UUID, usage: Usage | None, cost: Cost, *,
                               active_at: datetime | None = None) -> None:
    """Add a call's tokens and cost to the conversation's running totals, by increments in SQL so
    concurrent calls cannot lose an update; with `active_at`, also mark the conversation's last
    message and activity then. Nothing to add and no time to mark: no statement."""
    if usage is None and active_at is None:
        return
    input_tokens = usage.input_tokens if usage else 0
    output_tokens = usage.output_tokens if usage else 0
    values = {
        "total_input_tokens": Conversation.total_input_tokens + input_tokens,
        "total_output_tokens": Conversation.total_output_tokens + output_tokens,
        "total_tokens": Conversation.total_tokens + input_tokens + output_tokens,
        "total_cost_usd": Conversation.total_cost_usd + cost.total_usd}
    if active_at is not None:
        values.update(last_message_at=active_at, last_activity_at=active_at)
    db.session.execute(update(Conversation).where(Conversation.id == conversation_id).values(**values))


def recent_failures(model_id: int, limit: int = RECENT_FAILURES) -> list[ModelRequest]:
    """The model's latest failed calls, newest first, with the provider's own words: for admins only,
    as users are shown a generic sentence."""
    return list(db.session.scalars(
        select(ModelRequest).where(ModelRequest.ai_model_id == model_id, ModelRequest.status == "error")
        .order_by(ModelRequest.requested_at.desc()).limit(limit)))


def _milliseconds(start: datetime, end: datetime) -> int:
    return int((end - start).total_seconds() * 1000)
