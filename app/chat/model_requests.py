"""Provider calls: one row per call to a model, with its timing, tokens and cost.

`record()` is the single entry point for "a provider call was made": it prices the call (through
llm.pricing.price), stores its row and adds its tokens and cost to the conversation's totals.
Answers, titles and summaries go through it, and so will the API and billing's metering."""
from __future__ import annotations

import functools
import threading
import time
import uuid
from collections import deque
from datetime import datetime

from flask import current_app
from sqlalchemy import and_, bindparam, case, select, update

from app.ai_models.services import stream_from
from app.billing import metering
from app.chat.models import Conversation, ModelRequest
from app.chat.services import DEFAULT_TITLE
from app.extensions import db
from app.llm.base import GenerationRequest, ProviderError, TextDelta, Usage
from app.llm.pricing import Cost, Priced, price
from app.models.base import utcnow
from app.usage import services as usage_rollups

RECENT_FAILURES = 10
# Calls that calibrate a model's token estimate: its latest successful ones (see context.py).
CALIBRATION_CALLS = 20


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
           active_at: datetime | None = None, first_title: str | None = None) -> Cost:
    """Finish a provider call's row: its end time `at` (now by default) and latency, its tokens and
    its cost at `model`'s prices; add the row to the session, to its day's usage roll-up and the
    tokens and cost to its conversation's totals (marking the conversation active at `active_at`, if
    given, and giving it `first_title` if it has no title yet). Part of the caller's transaction,
    which commits. Returns the cost."""
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
        add_to_conversation_totals(call.chat_id, usage, cost, active_at=active_at, first_title=first_title)
    metering.add(billing, call)  # its organisation's counters, after the conversation's row (lock order)
    _calibration_of(call.ai_model_id, load=False).add(call)
    return cost


def add_to_conversation_totals(conversation_id: uuid.UUID, usage: Usage | None, cost: Cost, *,
                               active_at: datetime | None = None, first_title: str | None = None) -> None:
    """Add a call's tokens and cost to the conversation's running totals, by increments in SQL so
    concurrent calls cannot lose an update; with `active_at`, also mark the conversation's last
    message and activity then; with `first_title`, make it the title if the conversation still has
    none (a rename meanwhile wins). Nothing to add, no time to mark and no title: no statement."""
    if usage is None and active_at is None and first_title is None:
        return
    input_tokens = usage.input_tokens if usage else 0
    output_tokens = usage.output_tokens if usage else 0
    db.session.execute(_totals_statement(active_at is not None, first_title is not None), {
        "conversation_id": conversation_id, "input_tokens": input_tokens, "output_tokens": output_tokens,
        "tokens": input_tokens + output_tokens, "cost": cost.total_usd, "active_at": active_at,
        "first_title": first_title, "default_title": DEFAULT_TITLE})


@functools.cache
def _totals_statement(marks_active: bool, sets_title: bool):
    """add_to_conversation_totals' statement for one shape, built once per process."""
    columns = Conversation.__table__.c

    def parameter(name, column):
        return bindparam(name, type_=column.type)

    values = {
        "total_input_tokens": Conversation.total_input_tokens + parameter("input_tokens", columns.total_input_tokens),
        "total_output_tokens": Conversation.total_output_tokens + parameter("output_tokens",
                                                                            columns.total_output_tokens),
        "total_tokens": Conversation.total_tokens + parameter("tokens", columns.total_tokens),
        "total_cost_usd": Conversation.total_cost_usd + parameter("cost", columns.total_cost_usd)}
    if marks_active:
        values.update(last_message_at=parameter("active_at", columns.last_message_at),
                      last_activity_at=parameter("active_at", columns.last_activity_at))
    if sets_title:
        untitled = and_(Conversation.title == parameter("default_title", columns.title),
                        Conversation.is_title_set_by_user.is_(False))
        values["title"] = case((untitled, parameter("first_title", columns.title)), else_=Conversation.title)
    return update(Conversation).where(
        Conversation.id == parameter("conversation_id", columns.id)).values(**values)


def recent_failures(model_id: int, limit: int = RECENT_FAILURES) -> list[ModelRequest]:
    """The model's latest failed calls, newest first, with the provider's own words: for admins only,
    as users are shown a generic sentence."""
    return list(db.session.scalars(
        select(ModelRequest).where(ModelRequest.ai_model_id == model_id, ModelRequest.status == "error")
        .order_by(ModelRequest.requested_at.desc()).limit(limit)))


def calibration_pairs(model_id: int) -> list[tuple[int, int]]:
    """(estimated, reported) input tokens of the model's latest successful calls, newest first, read
    from the database now."""
    return [tuple(row) for row in db.session.execute(
        select(ModelRequest.estimated_input_tokens, ModelRequest.input_tokens)
        .where(ModelRequest.ai_model_id == model_id, ModelRequest.status == "success",
               ModelRequest.estimated_input_tokens.is_not(None))
        .order_by(ModelRequest.requested_at.desc()).limit(CALIBRATION_CALLS))]


def recent_calibration_pairs(model_id: int) -> list[tuple[int, int]]:
    """`calibration_pairs`, from this process's copy when it was read less than
    CALIBRATION_CACHE_SECONDS ago: a statistic, not anyone's data, so an answer's start need not read
    it each time. Calls recorded here since are added to the copy as they are recorded; those of
    other processes show when it is read again."""
    return _calibration_of(model_id, load=True).pairs()


class _Calibration:
    """One model's latest (estimated, reported) pairs in this process, and when they were read."""

    def __init__(self, pairs: list[tuple[int, int]], read_at: float):
        self.lock = threading.Lock()
        self.recent = deque(pairs, maxlen=CALIBRATION_CALLS)
        self.read_at = read_at

    def add(self, call: ModelRequest) -> None:
        if call.status == "success" and call.estimated_input_tokens is not None:
            with self.lock:
                self.recent.appendleft((call.estimated_input_tokens, call.input_tokens))

    def pairs(self) -> list[tuple[int, int]]:
        with self.lock:
            return list(self.recent)


class _NoCalibration:
    def add(self, call: ModelRequest) -> None:
        pass


def _calibration_of(model_id: int | None, *, load: bool):
    """This app's (so this database's) copy for a model: read now when `load` and it is missing or
    older than the setting; without `load`, the copy if one is current (else nothing to add to)."""
    cache = current_app.extensions.setdefault("studio_calibration", {})
    entry = cache.get(model_id)
    now = time.monotonic()
    if entry is not None and now - entry.read_at < current_app.config.get("CALIBRATION_CACHE_SECONDS", 60):
        return entry
    if not load or model_id is None:
        return _NoCalibration()
    entry = cache[model_id] = _Calibration(calibration_pairs(model_id), now)
    return entry


def _milliseconds(start: datetime, end: datetime) -> int:
    return int((end - start).total_seconds() * 1000)
