"""Answers are generated outside the request and survive the browser.

A generator thread streams from the provider and keeps the partial text in the message row
(every FLUSH_SECONDS), beating a heartbeat and checking for a stop request. The SSE endpoint, in
any process, reads that row: it sends what the client has not seen yet (offsets travel as the SSE
event id, so a reconnect resumes where it left off), then follows new text until the message is
finished. A generation whose heartbeat stopped (its process died) is marked failed, text kept."""
from __future__ import annotations

import functools
import html
import random
import re
import threading
import time
import uuid
from contextlib import closing
from decimal import Decimal

from flask import Flask, current_app
from sqlalchemy import String, and_, bindparam, case, func, select, update
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import aliased, joinedload, lazyload

from app.ai_models.models import AIModel
from app.ai_models.services import provider_stream
from app.chat import model_requests, notify
from app.chat.context import FittedContext, fit_for_answer, record_failed_attempt, stream_fitting
from app.chat.live import LiveAnswer
from app.chat.models import Conversation, Message, ModelRequest
from app.chat.services import DEFAULT_TITLE, HEARTBEAT_STALE_AFTER, heuristic_title
from app.core.markdown import RENDERER_VERSION, render_markdown_safe
from app.extensions import db
from app.llm.base import (
    ChatMessage,
    Finish,
    GenerationRequest,
    ProviderError,
    ReasoningDelta,
    TextDelta,
    Usage,
)
from app.llm.pricing import NO_COST
from app.llm.waiting import WAITING, read_in_background
from app.models.base import commit_keeping_loaded, utcnow

FLUSH_SECONDS = 0.2  # new text is saved at most this often...
FLUSH_MAX_CHARS = 16_000  # ...or at once when this much is waiting
IDLE_FLUSH_SECONDS = 1.0  # with nothing new, the heartbeat and the stop check still come this often
WAIT_SECONDS = 0.25  # while the provider is silent, how often the generator looks up (heartbeat, stop, limits)
READ_TIMEOUT_MARGIN = 5
KEEPALIVE_SECONDS = 15
MAX_STREAM_SECONDS = 600


# --- the generator ------------------------------------------------------------------------------

def start_generation(message_id: uuid.UUID) -> threading.Thread:
    """Write one answer (already committed as "streaming") in a background thread, a greenlet under
    gevent. The one place answers start; the thread gets the app itself, not the request's proxy."""
    app = current_app._get_current_object()
    thread = threading.Thread(target=_run_in_app, args=(app, message_id), name=f"generate-{message_id}", daemon=True)
    thread.start()
    return thread


def _run_in_app(app: Flask, message_id: uuid.UUID) -> None:
    with app.app_context():
        try:
            generate_answer(message_id)
        except Exception:  # never let a thread die silently with the message left "streaming"
            current_app.logger.exception("generation of %s crashed", message_id)
            db.session.rollback()
            _finish(message_id, None, status="failed", error="The server hit an error while writing this answer.")
        finally:
            db.session.remove()


def _build_request(message: Message, conversation: Conversation) -> tuple[GenerationRequest, FittedContext]:
    """The provider request for an answer, its history fitted to the model's context (see context.py)."""
    model = message.model
    options = message.options
    max_tokens = options.max_tokens if options and options.max_tokens else model.max_tokens
    fitted = fit_for_answer(message, conversation, model, max_tokens)

    def number(value):
        return float(value) if value is not None else None

    return GenerationRequest(
        model_id=model.model_id, messages=fitted.messages, base_url=model.base_url,
        temperature=number(options.temperature) if options else None,
        top_p=number(options.top_p) if options else None,
        max_tokens=max_tokens,
        frequency_penalty=number(options.frequency_penalty) if options else None,
        presence_penalty=number(options.presence_penalty) if options else None,
        # Only the reasoning options the registry says this model accepts are sent.
        reasoning_effort=options.reasoning_effort if options and model.accepts_reasoning_effort else None,
        thinking_budget_tokens=(options.thinking_budget_tokens if options and model.accepts_thinking_budget
                                else None),
        # The connection's own read limit only ends a reader left behind; the generator applies the
        # model's first-token and idle limits itself, to the second.
        timeout=float(max(model.first_token_timeout_seconds, model.idle_timeout_seconds) + READ_TIMEOUT_MARGIN),
    ), fitted


def _read_start(message_id: uuid.UUID) -> tuple[Message, Conversation] | None:
    """The answer to write with its model and options, and its conversation: one statement. On
    PostgreSQL outside any transaction (no BEGIN, no COMMIT): the start only reads, and under READ
    COMMITTED each statement sees its own snapshot in a transaction too."""
    if not db.session().in_transaction() and db.session.get_bind().dialect.name == "postgresql":
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    row = db.session.execute(
        select(Message, Conversation).join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.id == message_id)
        .options(joinedload(Message.options), lazyload(Conversation.model))).first()
    return (row[0], row[1]) if row is not None else None



def generate_answer(message_id: uuid.UUID) -> None:
    """Stream one answer from its provider into the database, then record usage, cost and totals."""
    started = time.monotonic()
    start = _read_start(message_id)
    if start is None or start[0].status != "streaming" or start[0].model is None:
        db.session.commit()
        return
    message, conversation = start
    model = message.model
    is_demo, conversation_id, model_id = model.is_demo, conversation.id, model.id  # _finish's commit expires them
    request, fitted = _build_request(message, conversation)
    # Saved with the first flush (shown while the answer streams) and again with the final state.
    context = {"context_left_out_count": fitted.left_out_count,
               "context_summary_id": fitted.summary.id if fitted.summary else None}
    # End the read (the stream may take minutes; no pooled connection is held meanwhile), keeping its
    # values: the generator uses them and must not read them again; the final write reads the rows
    # again (populate_existing).
    commit_keeping_loaded()

    def trimmed(shorter: FittedContext) -> None:  # the provider refused it as too long: sent again shorter
        context.update(context_left_out_count=shorter.left_out_count,
                       context_summary_id=shorter.summary.id if shorter.summary else None)
        unsaved.update(context)

    unsaved = dict(context)  # what the next flush also writes
    call = ModelRequest(user_id=conversation.user_id, chat_id=conversation.id, message_id=message.id,
                        ai_model_id=model.id, model_name=model.model_id, provider=model.provider,
                        requested_at=utcnow(), temperature=request.temperature and Decimal(str(request.temperature)),
                        max_tokens=request.max_tokens, status="pending",
                        estimated_input_tokens=fitted.raw_estimated_tokens)
    text_parts: list[str] = []
    reasoning_parts: list[str] = []
    usage: Usage | None = None
    finish_reason = None
    outcome, error = "complete", None
    limits = _Limits(model.name, model.first_token_timeout_seconds, model.idle_timeout_seconds)
    # The first text is saved at once (time to first token); later text is coalesced by time and size.
    # Each flush appends only what is new (saved_* count what the row holds), so its cost stays constant.
    # The send beat the heartbeat as it created the answer, just before: the first flush is due with
    # the first text, or idle_flush_seconds after the start (at once after a long summary call).
    last_flush = started
    saved_text = saved_reasoning = pending = 0
    idle_flush_seconds = min(IDLE_FLUSH_SECONDS, HEARTBEAT_STALE_AFTER.total_seconds() / 4)  # beats well in time
    stream = stream_fitting(model, request, fitted, call, open_stream=_retrying(call, current_app.config),
                            on_trim=trimmed)
    try:
        for event in stream:
            if db.session().in_transaction():
                # A retry read rows again (the refused call, the model): end that transaction now, not at
                # the first flush, so a provider slow to answer does not hold a pooled connection meanwhile.
                db.session.commit()
            if event is WAITING:
                # Nothing arrived: the flush below still beats the heartbeat and sees a stop.
                limits.check()
            elif isinstance(event, TextDelta):
                limits.arrived()
                if call.first_token_at is None:
                    call.first_token_at = utcnow()
                text_parts.append(event.text)
                pending += len(event.text)
            elif isinstance(event, ReasoningDelta):
                limits.arrived()
                reasoning_parts.append(event.text)
                pending += len(event.text)
            elif isinstance(event, Usage):
                usage = event
            elif isinstance(event, Finish):
                finish_reason = event.reason
            since_flush = time.monotonic() - last_flush
            if (pending and (since_flush >= FLUSH_SECONDS or not (saved_text or saved_reasoning))) \
                    or pending >= FLUSH_MAX_CHARS or since_flush >= idle_flush_seconds:
                last_flush = time.monotonic()
                text, reasoning = "".join(text_parts), "".join(reasoning_parts)
                try:
                    state = _flush(message_id, text[saved_text:], reasoning[saved_reasoning:],
                                   at=(saved_text, saved_reasoning), also=unsaved)
                except PoolTimeout:
                    # An overloaded worker ran out of pooled connections: keep the text and save it
                    # with the next flush rather than lose the answer.
                    current_app.logger.warning("answer %s: no database connection free, flushing later", message_id)
                    continue
                saved_text, saved_reasoning, pending = len(text), len(reasoning), 0
                unsaved = {}
                if state != "continue":
                    outcome = "stopped" if state == "stop" else "gone"
                    break
    except ProviderError as provider_error:
        outcome, error = "failed", provider_error
        current_app.logger.warning("answer %s failed: %s", message_id, provider_error.message)
    finally:
        close = getattr(stream, "close", None)
        if close:
            close()  # ends the HTTP stream to the provider at once on stop
    if outcome == "gone":
        return  # the conversation was deleted meanwhile
    first_question = _finish(
        message_id, call, status=outcome, text="".join(text_parts), reasoning="".join(reasoning_parts),
        usage=usage, finish_reason=finish_reason if outcome == "complete" else outcome,
        error=error.user_message if error else None, error_detail=error.message if error else None,
        error_code=error.code if error else None, context=context)
    if first_question is not None and outcome == "complete" and not is_demo:
        title_with_model(conversation_id, model_id, first_question)


class _Limits:
    """A model's time limits for one answer: the first token (text or reasoning) within
    `first_token_seconds` of the start, retries included; then no silence longer than `idle_seconds`."""

    def __init__(self, model_name: str, first_token_seconds: int, idle_seconds: int):
        self.model_name, self.first_token_seconds, self.idle_seconds = model_name, first_token_seconds, idle_seconds
        self.started = self.last_arrival = time.monotonic()
        self.has_arrived = False

    def arrived(self) -> None:
        self.has_arrived = True
        self.last_arrival = time.monotonic()

    def check(self) -> None:
        """Raise ProviderError (timeout), naming the model and the limit, once a limit has passed."""
        if not self.has_arrived and time.monotonic() - self.started > self.first_token_seconds:
            message = (f"{self.model_name} sent nothing within its first-token limit of "
                       f"{self.first_token_seconds} s.")
        elif self.has_arrived and time.monotonic() - self.last_arrival > self.idle_seconds:
            message = f"{self.model_name} stopped sending for longer than its idle limit of {self.idle_seconds} s."
        else:
            return
        raise ProviderError(message, code="timeout", user_message=message)


def _retrying(call: ModelRequest, config):
    """`open_stream` for stream_fitting: each call read in the background (WAITING while the
    provider is silent), and sent again after a retryable failure that came before anything else
    (a 429, a 5xx, a refused connection), at most MODEL_RETRIES times. Each failed attempt is
    recorded as a call of its own; the waits yield WAITING too, so the heartbeat and stop go on."""
    retries = max(0, int(config.get("MODEL_RETRIES", 2)))
    base = float(config.get("MODEL_RETRY_BASE_SECONDS", 1.0))
    longest = float(config.get("MODEL_RETRY_MAX_WAIT_SECONDS", 30.0))

    def open_stream(model: AIModel, request: GenerationRequest):
        for attempt in range(retries + 1):
            received = False
            try:
                with closing(read_in_background(provider_stream(model, request), WAIT_SECONDS,
                                                name=f"provider-read-{call.message_id}")) as events:
                    for item in events:
                        received = received or item is not WAITING
                        yield item
                return
            except ProviderError as error:
                wait = retry_wait(attempt, error.retry_after, base)
                if received or not error.is_retryable or attempt == retries or wait > longest:
                    raise
                failure = error
            record_failed_attempt(call, failure)
            db.session.commit()
            current_app.logger.info("retrying %s in %.1f s after %s", call.message_id, wait, failure.code)
            until = time.monotonic() + wait
            while (left := until - time.monotonic()) > 0:
                time.sleep(min(WAIT_SECONDS, left))
                yield WAITING
            call.requested_at = utcnow()

    return open_stream


def retry_wait(attempt: int, retry_after: float | None, base: float) -> float:
    """Seconds before retry number `attempt + 1`: the provider's Retry-After when it gave one, else
    `base` doubled per attempt; either with up to a quarter more at random, so that many answers
    refused together do not come back together."""
    wait = retry_after if retry_after is not None else base * 2 ** attempt
    return wait * (1 + random.uniform(0, 0.25))


TITLE_PROMPT = ("Write a short title, at most six words, for a conversation that starts with the message below. "
                "Answer with the title only, without quotes.\n\n{text}")


def title_with_model(conversation_id: uuid.UUID, model_id: int, first_text: str) -> None:
    """Ask the conversation's model for a title of its first question `first_text` (the heuristic one
    stays if this fails); the call is recorded and counted in the conversation's totals like any other."""
    conversation = db.session.get(Conversation, conversation_id)
    model = db.session.get(AIModel, model_id)
    if conversation is None or model is None or conversation.is_title_set_by_user:
        return
    request = GenerationRequest(model_id=model.model_id, base_url=model.base_url,
                                messages=[ChatMessage("user", TITLE_PROMPT.format(text=first_text[:2000]))],
                                max_tokens=24, temperature=0.2, timeout=20)
    db.session.commit()
    call = ModelRequest(user_id=conversation.user_id, chat_id=conversation_id, ai_model_id=model.id,
                        model_name=model.model_id, provider=model.provider, task_type="title", requested_at=utcnow())
    text, _ = model_requests.call_for_text(call, model, request)
    title = " ".join(text.strip().split("\n", 1)[0].split()).strip("\"'“”‘’ ")[:80]
    conversation = db.session.get(Conversation, conversation_id)
    if title and call.status == "success" and conversation is not None and not conversation.is_title_set_by_user:
        conversation.title = title
    db.session.commit()


def _flush(message_id: uuid.UUID, new_text: str, new_reasoning: str, at: tuple[int, int] | None = None,
           also: dict | None = None) -> str:
    """Append the new text to the row and beat the heartbeat, in one statement whose cost does not
    grow with the answer (`content || :new`), setting the columns in `also` too; wake the followers
    when there is new text; say whether to continue, stop, or give up (deleted).

    One round trip: the statement runs on its own (autocommit, so no BEGIN and COMMIT around it) and
    on PostgreSQL carries its NOTIFY (a CTE), which is delivered when that statement commits. With
    `at` (the lengths of text and reasoning the row held before), the wake-up carries the new text
    too, so followers in every process append it without reading the row."""
    if db.session().in_transaction():
        db.session.commit()  # anything the generator's session holds is saved first, as before
    has_news = bool(new_text or new_reasoning)
    piece = notify.Piece(at[0], new_text, at[1], new_reasoning) if has_news and at is not None else None
    parameters = {"message_id": message_id, "heartbeat_at": utcnow(), "new_text": new_text,
                  "new_reasoning": new_reasoning, **(also or {})}
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        with_notify = connection.dialect.name == "postgresql" and has_news
        if with_notify:
            parameters["payload"] = notify.payload(message_id, piece)
        statement = _flush_statement(bool(new_text), bool(new_reasoning), with_notify, tuple(sorted(also or ())))
        row = connection.execute(statement, parameters).first()
    if has_news and row is not None:
        notify.sent(db.session, message_id, piece)
    if row is None:
        return "gone"
    return "stop" if row.stop_requested_at is not None else "continue"


@functools.cache
def _flush_statement(has_text: bool, has_reasoning: bool, with_notify: bool, also: tuple[str, ...]):
    """The flush's statement for one shape of flush, built once per process: only the parameters
    change from one flush to the next, so nothing is built or keyed again (CPU per flush)."""
    columns = Message.__table__.c
    values = {"heartbeat_at": bindparam("heartbeat_at", type_=columns.heartbeat_at.type),
              **{name: bindparam(name, type_=columns[name].type) for name in also}}
    if has_text:
        values["content"] = Message.content + bindparam("new_text", type_=columns.content.type)
    if has_reasoning:
        values["reasoning_content"] = (func.coalesce(Message.reasoning_content, "")
                                       + bindparam("new_reasoning", type_=columns.reasoning_content.type))
    statement = (update(Message).where(Message.id == bindparam("message_id", type_=columns.id.type),
                                       Message.status == "streaming")
                 .values(**values).returning(Message.stop_requested_at))
    if not with_notify:
        return statement
    flushed = statement.cte("flushed")  # on PostgreSQL the NOTIFY rides in the same statement
    return select(flushed.c.stop_requested_at, notify.notify_clause(bindparam("payload", type_=String)))


def _finish(message_id, call: ModelRequest | None, *, status: str, text: str | None = None,
            reasoning: str | None = None, usage: Usage | None = None, finish_reason: str | None = None,
            error: str | None = None, error_detail: str | None = None, error_code: str | None = None,
            context: dict | None = None) -> str | None:
    """Write the final state: rendered HTML, tokens, cost, the provider call and the conversation totals
    (the call through model_requests.record, which prices it and adds it to the totals), and
    `context` (what was left out of the request) on the message; wake the followers.
    `error` is shown to the user; `error_detail` (the provider's own words) only to admins, on the call.
    When this answer gave the conversation its first title, returns the conversation's first question
    (else None)."""
    row = db.session.execute(_finish_read(), {"message_id": message_id}).first()
    if row is None or row[0].status != "streaming":
        return None
    message, conversation_id, first_text, is_untitled = row
    if text is None:
        text, reasoning = message.content, message.reasoning_content
    # Rendered before anything is written: a costly render must never hold the database's write lock.
    content_html = render_markdown_safe(text or "")
    now = utcnow()
    # The heuristic title, only while the conversation still has none (a rename meanwhile wins).
    title = heuristic_title(first_text or "") if is_untitled else None
    if call is not None:
        call.status = {"complete": "success", "stopped": "stopped"}.get(status, "error")
        call.error_code, call.error_message = error_code, error_detail or error
        cost = model_requests.record(call, usage, message.model, at=now, active_at=now, first_title=title)
    else:  # the generator crashed or its process died: no call to record, but the conversation moved on
        cost = NO_COST
        model_requests.add_to_conversation_totals(conversation_id, None, cost, active_at=now, first_title=title)
    text = text or ""
    parameters = dict(
        message_id=message_id, content=text, reasoning_content=reasoning or None, content_html=content_html,
        renderer_version=RENDERER_VERSION,
        parts=[{"type": "text", "text": text}] + ([{"type": "reasoning", "text": reasoning}] if reasoning else []),
        status=status, finish_reason=finish_reason, error_message=error,
        input_tokens=usage.input_tokens if usage else None, output_tokens=usage.output_tokens if usage else None,
        cached_input_tokens=usage.cached_input_tokens if usage else None,
        cost_usd=cost.total_usd if usage else None, completed_at=now, heartbeat_at=None, **(context or {}))
    is_postgres = db.session.get_bind().dialect.name == "postgresql"
    if is_postgres:
        parameters["payload"] = notify.payload(message_id)
    db.session.execute(_final_statement(is_postgres, tuple(sorted(context or ()))), parameters)
    db.session.commit()
    notify.sent(db.session, message_id)
    return (first_text or "") if is_untitled else None


FINAL_COLUMNS = ("content", "reasoning_content", "content_html", "renderer_version", "parts", "status",
                 "finish_reason", "error_message", "input_tokens", "output_tokens", "cached_input_tokens",
                 "cost_usd", "completed_at", "heartbeat_at")


@functools.cache
def _finish_read():
    """_finish's one read, built once per process: the answer (with its model, for the prices), its
    conversation's id, whether that conversation still has no title and, only then, its first question.
    Rows already in the session are read again (another process may have stopped or reaped it)."""
    untitled = and_(Conversation.title == DEFAULT_TITLE, Conversation.is_title_set_by_user.is_(False))
    asked = aliased(Message)
    first_question = select(asked.content).where(
        asked.conversation_id == Conversation.id, asked.role == "user").order_by(asked.id).limit(1)
    return (select(Message, Conversation.id, case((untitled, first_question.scalar_subquery())),
                   untitled.label("untitled"))
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Message.id == bindparam("message_id", type_=Message.__table__.c.id.type))
            .options(lazyload(Message.options)).execution_options(populate_existing=True))


@functools.cache
def _final_statement(is_postgres: bool, also: tuple[str, ...]):
    """_finish's UPDATE of the answer (FINAL_COLUMNS and `also`), built once per process; on
    PostgreSQL it carries the followers' wake-up, sent when the transaction commits."""
    columns = Message.__table__.c
    statement = (update(Message).where(Message.id == bindparam("message_id", type_=columns.id.type))
                 .values({name: bindparam(name, type_=columns[name].type) for name in (*FINAL_COLUMNS, *also)}))
    if not is_postgres:
        return statement.execution_options(synchronize_session=False)
    finished = statement.returning(Message.id).cte("finished")
    return select(finished.c.id, notify.notify_clause(bindparam("payload", type_=String)))


def reap_if_stale(message: Message) -> bool:
    """Mark a streaming message whose generator stopped beating as failed (its text is kept)."""
    if message.status != "streaming" or message.heartbeat_at is None:
        return False
    if utcnow() - message.heartbeat_at < HEARTBEAT_STALE_AFTER:
        return False
    _finish(message.id, None, status="failed",
            error="The server stopped while writing this answer. What was written is kept; retry to get a full answer.")
    return True


# --- the SSE endpoint's stream --------------------------------------------------------------------

def parse_offsets(value: str | None) -> tuple[int, int]:
    """An SSE event id is "<text offset>.<reasoning offset>"; anything else means from the start."""
    try:
        text_offset, reasoning_offset = (value or "0.0").split(".", 1)
        return max(0, min(int(text_offset), 10**9)), max(0, min(int(reasoning_offset), 10**9))
    except ValueError:
        return 0, 0


def sse_frame(event: str, data: str, event_id: str | None = None) -> str:
    """One SSE event; every line of data is framed, so no text can forge another event."""
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    # Browsers end a line at CR LF, LF or a lone CR: split on all three, or a CR could start a field.
    lines += [f"data: {line}" for line in re.split(r"\r\n|\r|\n", data)]
    return "\n".join(lines) + "\n\n"


def read_progress(message_id: uuid.UUID, text_offset: int, reasoning_offset: int):
    """The message's status and the text after the given offsets: one statement, one round trip (no
    transaction around it), on a pooled connection held only for that read."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        return connection.execute(
            select(Message.status, Message.heartbeat_at,
                   func.length(Message.content), func.substr(Message.content, text_offset + 1),
                   func.coalesce(func.length(Message.reasoning_content), 0),
                   func.substr(func.coalesce(Message.reasoning_content, ""), reasoning_offset + 1))
            .where(Message.id == message_id)).one_or_none()


def _progress_from(pieces: list[notify.Piece], text_offset: int, reasoning_offset: int):
    """What `read_progress` would say, from the pieces the wake-ups carried, when they continue the
    follower's text without a gap (else None: read the row). The answer is still being written."""
    new_text, new_reasoning = [], []
    for piece in pieces:
        if piece.text_at > text_offset or piece.reasoning_at > reasoning_offset:
            return None  # a piece this follower never got (sent before it subscribed, or too long)
        text = piece.text[text_offset - piece.text_at:]
        reasoning = piece.reasoning[reasoning_offset - piece.reasoning_at:]
        new_text.append(text)
        new_reasoning.append(reasoning)
        text_offset += len(text)
        reasoning_offset += len(reasoning)
    return "streaming", None, text_offset, "".join(new_text), reasoning_offset, "".join(new_reasoning)


def follow_message(message_id: uuid.UUID, text_offset: int, reasoning_offset: int, render_final):
    """Yield SSE events: the text after the offsets, new text as it is written, then `done` with
    the final message HTML from `render_final(message)`. The row is read at the start, at each
    fallback poll and when a wake-up did not bring the text itself (see notify.Piece)."""
    # The request's session (the user, the conversation) let go of its connection: an open stream
    # holds none between its reads, so hundreds of them share a small pool.
    db.session.rollback()
    started = time.monotonic()
    last_sent = started
    live = LiveAnswer.resume(message_id, text_offset)
    fallback_seconds = current_app.config["STREAM_FALLBACK_POLL_SECONDS"]
    signal = notify.subscribe(message_id)  # None when notifications are off: then only the slow poll
    seen = signal.version if signal else 0  # noted before reading, so a wake-up meanwhile is not lost
    progress = read_progress(message_id, text_offset, reasoning_offset)
    while True:
        if progress is None:
            yield sse_frame("done", "")
            return
        status, heartbeat_at, text_length, new_text, reasoning_length, new_reasoning = progress
        if new_reasoning:
            reasoning_offset = reasoning_length
            yield sse_frame("reasoning", html.escape(new_reasoning, quote=False), f"{text_offset}.{reasoning_offset}")
            last_sent = time.monotonic()
        if new_text:
            text_offset = text_length
            # Completed blocks follow as HTML (see live.py); then only that event carries the id.
            blocks = live.read(new_text)
            event_id = f"{text_offset}.{reasoning_offset}"
            yield sse_frame("delta", html.escape(new_text, quote=False), None if blocks else event_id)
            if blocks:
                yield sse_frame("blocks", blocks, event_id)
            last_sent = time.monotonic()
        if status == "streaming" and heartbeat_at is not None and utcnow() - heartbeat_at > HEARTBEAT_STALE_AFTER:
            message = db.session.get(Message, message_id)
            if message is not None and reap_if_stale(message):
                status = "failed"
            db.session.rollback()
        if status != "streaming":
            db.session.rollback()
            message = db.session.get(Message, message_id, options=[lazyload(Message.options)])  # not shown
            yield sse_frame("done", render_final(message) if message else "", f"{text_offset}.{reasoning_offset}")
            db.session.rollback()
            return
        if time.monotonic() - started > MAX_STREAM_SECONDS:
            return  # the browser reconnects with Last-Event-ID and resumes
        if time.monotonic() - last_sent > KEEPALIVE_SECONDS:
            yield ": keep-alive\n\n"
            last_sent = time.monotonic()
        progress = None
        if signal:
            if signal.wait(seen, fallback_seconds):
                version, pieces = signal.pieces_after(seen)
                if pieces is not None:
                    progress = _progress_from(pieces, text_offset, reasoning_offset)
                    seen = version if progress is not None else seen
        else:
            time.sleep(fallback_seconds)
        if progress is None:  # the fallback poll, or a wake-up without its text: read the row
            seen = signal.version if signal else 0
            progress = read_progress(message_id, text_offset, reasoning_offset)
