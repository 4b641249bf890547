"""The messages one answer sends: as much of the conversation as the model's context window takes.

A request's budget is the model's context window minus the answer's max_tokens and a safety margin.
The system prompt always goes; the history is spent newest-first, read from the database in keyset
pages, so a 5,000-message conversation costs the same as a 50-message one. What does not fit is
left out (the answer says how many), or, when the conversation asks for it, replaced by a running
summary written by the admin's summary model. A provider that still says "too long" gets one
trimmed retry (`stream_fitting`).
"""
from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from flask import current_app
from sqlalchemy import and_, func, not_, select

from app.ai_models.models import AIModel
from app.ai_models.services import stream_from
from app.chat import model_requests
from app.chat.models import Conversation, ConversationSummary, Message, ModelRequest
from app.chat.services import is_current
from app.extensions import db
from app.llm import tokens
from app.llm.base import ChatMessage, GenerationRequest, ProviderError, StreamEvent
from app.llm.waiting import WAITING, Waiting
from app.models.base import utcnow

# A model whose registry row has no context window is treated as this small, so it is never overfed.
DEFAULT_CONTEXT_WINDOW = 8_192
# Room kept for the answer when neither the message nor the model sets max_tokens.
DEFAULT_ANSWER_TOKENS = 4_096
# The estimate is rough: keep this share of the window (at least MIN_MARGIN tokens) unspent.
SAFETY_MARGIN = 0.05
MIN_MARGIN_TOKENS = 32
# History is read newest-first in pages that grow: most answers need one small page.
FIRST_PAGE = 32
MAX_PAGE = 256
# With a smaller trimmed request the retry uses this share of what the provider said would fit.
RETRY_SHARE = 0.85
RETRY_SHARE_WITHOUT_COUNTS = 0.5

SUMMARY_PREFIX = "Summary of the earlier part of this conversation (those messages are not repeated here):\n\n"
# A summary is rewritten once this many left-out messages are not in it yet.
SUMMARY_REFRESH_AFTER = 6
SUMMARY_MAX_TOKENS = 800
SUMMARY_INSTRUCTIONS = (
    "You keep the running summary of a conversation between a user and an assistant. Update the summary "
    "with the new messages: keep facts, names, numbers, decisions, the user's preferences and open "
    "questions; drop small talk. Write it in the conversation's language, as short plain prose, within "
    "{words} words. Answer with the summary only.")


@dataclass
class Entry:
    """One history message as it will be sent, with its estimated cost."""

    id: uuid.UUID
    role: str
    content: str
    tokens: int


@dataclass
class FittedContext:
    """The request's messages and what was left out to make them fit."""

    system: list[ChatMessage]           # the system prompt, always sent
    summary: ConversationSummary | None  # sent after it, standing for left-out messages
    history: list[Entry]                # oldest first; the last is the question
    left_out_count: int                  # current messages before `history` that are not sent
    fixed_tokens: int                    # the request's and the system prompt's estimated cost
    summary_tokens: int = 0
    budget: int = 0
    factor: float = 1.0
    needs_summary: bool = False          # a (newer) summary should be written before sending
    summary_room: int = SUMMARY_MAX_TOKENS  # the longest summary that fits beside the history
    trimmed: bool = field(default=False)

    @property
    def messages(self) -> list[ChatMessage]:
        summary = [ChatMessage("system", SUMMARY_PREFIX + self.summary.summary_text)] if self.summary else []
        return self.system + summary + [ChatMessage(e.role, e.content) for e in self.history]

    @property
    def estimated_tokens(self) -> int:
        """The calibrated estimate of the whole request's input."""
        return self.fixed_tokens + self.summary_tokens + sum(e.tokens for e in self.history)

    @property
    def raw_estimated_tokens(self) -> int:
        """The estimate before calibration: stored with the call, to compare with what is reported."""
        return round(self.estimated_tokens / self.factor)

    def shrunk_to(self, target_tokens: int) -> FittedContext | None:
        """The same request with the oldest history (then the summary) left out until its estimate is
        at most `target_tokens`; None when only the question is left and it still does not fit."""
        history, summary, summary_tokens = list(self.history), self.summary, self.summary_tokens
        dropped = 0
        while self.fixed_tokens + summary_tokens + sum(e.tokens for e in history) > target_tokens:
            if len(history) > 1:
                history.pop(0)
                dropped += 1
                if history[0].role == "assistant" and len(history) > 1:
                    history.pop(0)  # start at a question, as Anthropic requires
                    dropped += 1
            elif summary is not None:
                summary, summary_tokens = None, 0
            else:
                return None
        return replace(self, history=history, summary=summary, summary_tokens=summary_tokens,
                       left_out_count=self.left_out_count + dropped, trimmed=True, needs_summary=False)


def context_window_of(model: AIModel) -> int:
    return model.context_window or DEFAULT_CONTEXT_WINDOW


def context_budget(model: AIModel, max_tokens: int | None) -> int:
    """Input tokens one request to `model` may use: its window, less the answer and a margin."""
    window = context_window_of(model)
    answer = max_tokens or min(DEFAULT_ANSWER_TOKENS, window // 4)
    margin = max(MIN_MARGIN_TOKENS, int(window * SAFETY_MARGIN))
    return max(window - answer - margin, 0)


def calibration_factor(model: AIModel, *, cached: bool = False) -> float:
    """Reported ÷ estimated input tokens over the model's latest successful calls (1.0 without them);
    `cached`: from this process's recent copy of those calls (model_requests.recent_calibration_pairs)."""
    pairs = (model_requests.recent_calibration_pairs(model.id) if cached
             else model_requests.calibration_pairs(model.id))
    return tokens.correction_factor(pairs)


def _sendable(conversation_id: uuid.UUID, before_id: uuid.UUID):
    """Current messages of the conversation before `before_id` that a model is shown: failed and
    empty answers are not."""
    return and_(Message.conversation_id == conversation_id, Message.id < before_id, is_current(),
                Message.content != "", not_(and_(Message.role == "assistant", Message.status == "failed")))


def _newest_first(conversation_id: uuid.UUID, before_id: uuid.UUID) -> Iterator[tuple]:
    """(id, role, content) of the sendable messages before `before_id`, newest first, read in keyset
    pages that grow, so only the rows needed are read."""
    size = FIRST_PAGE
    while True:
        rows = db.session.execute(
            select(Message.id, Message.role, Message.content).where(_sendable(conversation_id, before_id))
            .order_by(Message.id.desc()).limit(size)).all()
        yield from rows
        if len(rows) < size:
            return
        before_id, size = rows[-1][0], min(size * 2, MAX_PAGE)


def _count_before(conversation_id: uuid.UUID, before_id: uuid.UUID, after_id: uuid.UUID | None = None) -> int:
    """Current messages before `before_id` (and after `after_id`): those an answer does not send.
    Counted in the index alone (ix_nexus_messages_current), never reading the rows' text."""
    query = select(func.count()).select_from(Message).where(
        Message.conversation_id == conversation_id, Message.id < before_id, is_current())
    if after_id is not None:
        query = query.where(Message.id > after_id)
    return db.session.scalar(query) or 0


def latest_summary(conversation: Conversation) -> ConversationSummary | None:
    return db.session.scalar(select(ConversationSummary).where(ConversationSummary.conversation_id == conversation.id)
                             .order_by(ConversationSummary.id.desc()).limit(1))


def summary_model() -> AIModel | None:
    """The model the admin picked to write summaries (the first active one so marked)."""
    return db.session.scalar(select(AIModel).where(AIModel.is_summary_model.is_(True), AIModel.active.is_(True))
                             .order_by(AIModel.id).limit(1))


def fit_history(message: Message, conversation: Conversation, model: AIModel, max_tokens: int | None) -> FittedContext:
    """The messages to send for the answer `message` to `model`: the system prompt, then the newest
    history that fits the budget (the question always), then, if the conversation uses summaries,
    its latest summary in place of what was left out. Says whether that summary should be refreshed."""
    family = tokens.family_for(model.provider)
    factor = calibration_factor(model, cached=True)

    def cost(text: str) -> int:
        return math.ceil(tokens.estimate_message_tokens(text, family) * factor)

    system = [ChatMessage("system", conversation.system_prompt)] if conversation.system_prompt else []
    fixed = math.ceil(family.per_request * factor) + sum(cost(m.content) for m in system)
    budget = context_budget(model, max_tokens)
    history: list[Entry] = []
    spent = fixed
    complete = True
    for row_id, role, content in _newest_first(conversation.id, message.id):
        entry = Entry(row_id, role, content, cost(content))
        if history and spent + entry.tokens > budget:
            complete = False
            break
        history.append(entry)
        spent += entry.tokens
    history.reverse()
    fitted = FittedContext(system=system, summary=None, history=history, left_out_count=0, fixed_tokens=fixed,
                           budget=budget, factor=factor)
    if complete:
        return fitted
    if len(history) > 1 and history[0].role == "assistant":
        history.pop(0)  # start at a question, as Anthropic requires
    fitted.left_out_count = _count_before(conversation.id, history[0].id)
    if not conversation.is_summary_enabled:
        return fitted
    summary = latest_summary(conversation)
    if summary is None and summary_model() is None:
        return fitted
    # Room for the longest summary, kept whether or not one exists yet: the messages a summary
    # stands for are then exactly those left out, before and after it is written.
    # A small window gets a short summary: at most a quarter of the budget.
    summary_room = min(SUMMARY_MAX_TOKENS, budget // 4)
    reserve = math.ceil((summary_room + tokens.estimate_message_tokens(SUMMARY_PREFIX, family)) * factor)
    with_room = fitted.shrunk_to(budget - reserve)
    if with_room is None:
        return fitted
    fitted = replace(with_room, trimmed=False, summary_room=summary_room)
    if summary is not None:
        with_summary = replace(fitted, summary=summary, summary_tokens=cost(SUMMARY_PREFIX + summary.summary_text))
        if with_summary.estimated_tokens > budget:
            with_summary = with_summary.shrunk_to(budget)
        if with_summary is not None and with_summary.summary is not None:
            fitted = replace(with_summary, trimmed=False)
    behind = fitted.left_out_count if fitted.summary is None else _count_before(
        conversation.id, fitted.history[0].id, after_id=fitted.summary.covers_through_message_id)
    fitted.needs_summary = behind >= (1 if fitted.summary is None else SUMMARY_REFRESH_AFTER)
    return fitted


def fit_for_answer(message: Message, conversation: Conversation, model: AIModel,
                   max_tokens: int | None) -> FittedContext:
    """`fit_history`, with the conversation's running summary refreshed first when it fell behind
    (a recorded, priced call to the summary model; the read transaction is ended before it)."""
    fitted = fit_history(message, conversation, model, max_tokens)
    if not fitted.needs_summary:
        return fitted
    writer = summary_model()
    if writer is None:
        return fitted
    message_id, conversation_id, model_id = message.id, conversation.id, model.id
    refresh_summary(conversation, fitted, writer)
    message, conversation = db.session.get(Message, message_id), db.session.get(Conversation, conversation_id)
    refitted = fit_history(message, conversation, db.session.get(AIModel, model_id), max_tokens)
    refitted.needs_summary = False
    return refitted


def _summary_input(conversation_id: uuid.UUID, before_id: uuid.UUID, after_id: uuid.UUID | None,
                   budget: int, family: tokens.Family) -> list[tuple[str, str]]:
    """The left-out messages to fold into the summary, oldest first: the newest ones after the
    summary's end (`after_id`) that fit the summary model's budget."""
    picked, spent = [], 0
    for _row_id, role, content in _newest_first(conversation_id, before_id):
        if after_id is not None and _row_id <= after_id:
            break
        line_tokens = tokens.estimate_message_tokens(content, family)
        if picked and spent + line_tokens > budget:
            break
        picked.append((role, content))
        spent += line_tokens
    picked.reverse()
    return picked


def refresh_summary(conversation: Conversation, fitted: FittedContext, writer: AIModel) -> ConversationSummary | None:
    """Ask `writer` for an updated running summary covering every message before the first one sent;
    the call is recorded and priced like any other and counted in the conversation's totals. On a
    provider error the call is recorded and the old summary (if any) stays. Commits."""
    previous = latest_summary(conversation)
    first_sent_id = fitted.history[0].id
    family = tokens.family_for(writer.provider)
    previous_text = previous.summary_text if previous else ""
    answer_tokens = max(fitted.summary_room, 32)
    budget = context_budget(writer, answer_tokens) - tokens.estimate_request_tokens(
        [SUMMARY_INSTRUCTIONS, previous_text], family) - 64
    lines = _summary_input(conversation.id, first_sent_id, previous.covers_through_message_id if previous else None,
                           max(budget, 0), family)
    covers_through = db.session.scalar(select(Message.id).where(_sendable(conversation.id, first_sent_id))
                                       .order_by(Message.id.desc()).limit(1))
    if not lines or covers_through is None:
        return previous
    transcript = "\n\n".join(f"{'User' if role == 'user' else 'Assistant' if role == 'assistant' else 'System'}: "
                             f"{content}" for role, content in lines)
    prompt = (f"Summary so far:\n{previous_text or '(none yet)'}\n\nNew messages:\n{transcript}\n\n"
              "Write the updated summary.")
    instructions = SUMMARY_INSTRUCTIONS.format(words=answer_tokens * 2 // 3)
    request = GenerationRequest(model_id=writer.model_id, base_url=writer.base_url, max_tokens=answer_tokens,
                                temperature=0.2, timeout=60,
                                messages=[ChatMessage("system", instructions), ChatMessage("user", prompt)])
    estimated = tokens.estimate_request_tokens([m.content for m in request.messages], family)
    conversation_id, user_id, left_out = conversation.id, conversation.user_id, fitted.left_out_count
    call = ModelRequest(user_id=user_id, chat_id=conversation_id, ai_model_id=writer.id, model_name=writer.model_id,
                        provider=writer.provider, task_type="summary", requested_at=utcnow(),
                        max_tokens=answer_tokens, estimated_input_tokens=estimated)
    db.session.commit()  # no read transaction held open during the call
    text, usage = model_requests.call_for_text(call, writer, request)
    text = text.strip()
    if call.status == "error":
        current_app.logger.warning("summary of %s failed: %s", conversation_id, call.error_message)
    summary = None
    if call.status == "success" and text:
        db.session.flush()
        summary = ConversationSummary(
            conversation_id=conversation_id, summary_text=text, summary_model=writer.model_id,
            summary_length_tokens=usage.output_tokens if usage else tokens.estimate_text_tokens(text, family),
            covers_through_message_id=covers_through, covered_message_count=left_out, model_request_id=call.id)
        db.session.add(summary)
    db.session.commit()
    return summary


TOO_LONG_AFTER_RETRY = ("The conversation is too long for this model's context window: earlier messages were "
                        "left out and it was sent again, and the provider still refused it as too long.")
QUESTION_TOO_LONG = ("Your message is too long for this model's context window, even with every earlier message "
                     "left out. Shorten it or pick a model with a larger context window.")


def stream_fitting(model: AIModel, request: GenerationRequest, fitted: FittedContext,
                   call: ModelRequest, open_stream=stream_from,
                   on_trim: Callable[[FittedContext], None] | None = None) -> Iterator[StreamEvent]:
    """The events of `request` to `model`. When the provider refuses it as longer than the context
    window, that call is recorded as failed, the request is trimmed further (to what the provider
    said fits, when it said so) and sent once more; a second refusal, or nothing left to trim, ends
    with a ProviderError that says so. `call` (not yet added) describes the attempt that streams;
    `on_trim(trimmed)` hears of the shorter request (the answer's count of left-out messages follows
    the retry). `open_stream(model, request)` makes each call (the generator's adds retries and
    WAITING while the provider is silent: passed on)."""
    stream = open_stream(model, request)
    try:
        first = yield from _first_event(stream)
    except ProviderError as error:
        if error.code != "context_length":
            raise
        record_failed_attempt(call, error)
        target = _retry_target(fitted, error)
        trimmed = fitted.shrunk_to(target)
        if trimmed is None:
            raise ProviderError(error.message, code="context_length", status_code=error.status_code,
                                user_message=QUESTION_TOO_LONG) from None
        if on_trim is not None:
            on_trim(trimmed)
        call.requested_at = utcnow()
        call.estimated_input_tokens = trimmed.raw_estimated_tokens
        stream = open_stream(model, replace(request, messages=trimmed.messages))
        try:
            first = yield from _first_event(stream)
        except ProviderError as again:
            if again.code != "context_length":
                raise
            raise ProviderError(again.message, code="context_length", status_code=again.status_code,
                                user_message=TOO_LONG_AFTER_RETRY) from None
    if first is None:
        return
    try:
        yield first
        yield from stream
    finally:
        stream.close()


def _first_event(stream: Iterator) -> Iterator[Waiting]:
    """Pass on WAITING until the stream's first event, and return that event (None when the
    stream ends first)."""
    for item in stream:
        if item is not WAITING:
            return item
        try:
            yield item
        except GeneratorExit:  # stopped while waiting: let go of the provider at once
            stream.close()
            raise
    return None


def _retry_target(fitted: FittedContext, error: ProviderError) -> int:
    """The estimate the trimmed request should have: the provider's limit over its count of this
    request, applied to our estimate (with room to spare); half of it when the provider gave no counts."""
    estimate = fitted.estimated_tokens
    if error.prompt_tokens and error.context_limit and error.prompt_tokens > 0:
        return int(estimate * min(error.context_limit / error.prompt_tokens, 1.0) * RETRY_SHARE)
    return int(estimate * RETRY_SHARE_WITHOUT_COUNTS)


def record_failed_attempt(call: ModelRequest, error: ProviderError) -> None:
    """Keep a refused or failed attempt as a failed call of its own (no tokens were billed for it);
    `call` goes on to describe the next attempt."""
    refused = ModelRequest(
        user_id=call.user_id, chat_id=call.chat_id, message_id=call.message_id, ai_model_id=call.ai_model_id,
        model_name=call.model_name, provider=call.provider, task_type=call.task_type, requested_at=call.requested_at,
        temperature=call.temperature, max_tokens=call.max_tokens, estimated_input_tokens=call.estimated_input_tokens,
        status="error", error_code=error.code, error_message=error.message)
    model_requests.record(refused, None, None)
    db.session.commit()
