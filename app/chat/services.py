"""Chat rules: conversations and their messages, sending, stopping, regenerating, totals, feedback.
Services take the acting user and plain values; they never read the request."""
from __future__ import annotations

import functools
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import bindparam, delete, exists, false, func, or_, select, text, union_all, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, lazyload

from app.ai_models import services as model_services
from app.ai_models.models import AIModel
from app.billing import limits as billing_limits
from app.billing import metering
from app.billing import organisations as billing_organisations
from app.chat.models import Conversation, FeedbackItem, Message, MessageOptions, ModelRequest
from app.core.markdown import RENDERER_VERSION, render_markdown_safe
from app.core.pages import paginate
from app.errors import Conflict, LimitReached, NotFound, ValidationFailed
from app.extensions import db
from app.models.base import commit_keeping_loaded, utcnow

SIDEBAR_PAGE_SIZE = 30
PINNED_LIMIT = 50
MESSAGES_PAGE_SIZE = 50
MAX_MESSAGE_CHARS = 32_000
MAX_TITLE_CHARS = 200
MAX_SYSTEM_PROMPT_CHARS = 8_000
MAX_FEEDBACK_CHARS = 2_000
HISTORY_MESSAGES = 40
# How many earlier versions of one message the page offers ("show previous versions").
MAX_PREVIOUS_VERSIONS = 10
DEFAULT_TITLE = "New conversation"


@dataclass(frozen=True)
class GenerationOptions:
    temperature: Decimal | None = None
    top_p: Decimal | None = None
    max_tokens: int | None = None
    frequency_penalty: Decimal | None = None
    presence_penalty: Decimal | None = None
    reasoning_effort: str | None = None  # low | medium | high, for models that accept it
    thinking_budget_tokens: int | None = None  # extended thinking, for models that accept it

    def is_empty(self) -> bool:
        return all(value is None for value in self.__dict__.values())


# --- reading -------------------------------------------------------------------------------------

def get_conversation_for(user, conversation_id: uuid.UUID) -> Conversation:
    """The user's own conversation; anybody else's answers NotFound, like one that does not exist."""
    conversation = db.session.get(Conversation, conversation_id)
    if conversation is None or conversation.user_id != user.id:
        raise NotFound("There is no such conversation.")
    return conversation


def get_conversation_by_id(conversation_id: uuid.UUID) -> Conversation:
    """A conversation without an owner check: only for callers that authorised access another way
    (a live share link)."""
    conversation = db.session.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFound("There is no such conversation.")
    return conversation


def is_current():
    """The condition for messages of the conversation as it is now (not replaced by an edit or a
    regenerate); every read of "the conversation" uses it, so the partial index serves them."""
    return Message.superseded_by_id.is_(None)


def get_message_in(conversation: Conversation, message_id: uuid.UUID) -> Message:
    # Its generation options are read by its generator alone: loaded only if touched.
    message = db.session.get(Message, message_id, options=[lazyload(Message.options)])
    if message is None or message.conversation_id != conversation.id:
        raise NotFound("There is no such message in this conversation.")
    return message


def check_message_of(user, conversation_id: uuid.UUID, message_id: uuid.UUID) -> None:
    """NotFound unless the message is in the user's own conversation (as get_conversation_for and
    get_message_in would say), checked in one statement: for a stream, which reads the message itself."""
    has_message = exists().where(Message.id == message_id, Message.conversation_id == Conversation.id)
    row = db.session.execute(
        select(Conversation.user_id, has_message).where(Conversation.id == conversation_id)).one_or_none()
    if row is None or row.user_id != user.id:
        raise NotFound("There is no such conversation.")
    if not row[1]:
        raise NotFound("There is no such message in this conversation.")


def conversation_after_answer(user, conversation_id: uuid.UUID, answer: Message) -> tuple[
        Conversation, dict[uuid.UUID, list[list[Message]]]]:
    """The user's conversation as it is now (its totals and title changed while the answer was
    written) and the answer's earlier versions (a regenerated one has some): one statement when it
    has none."""
    row = db.session.execute(
        select(Conversation, exists().where(Message.superseded_by_id == answer.id))
        .where(Conversation.id == conversation_id).execution_options(populate_existing=True)).one_or_none()
    if row is None or row[0].user_id != user.id:
        raise NotFound("There is no such conversation.")
    return row[0], previous_versions([answer]) if row[1] else {}


def get_message_for_user(user, message_id: uuid.UUID) -> Message:
    """A message of one of the user's own conversations (for "save as prompt"); others answer NotFound."""
    message = db.session.get(Message, message_id)
    if message is None:
        raise NotFound("There is no such message.")
    get_conversation_for(user, message.conversation_id)
    return message


def _encode_cursor(conversation: Conversation) -> str:
    return f"{conversation.last_activity_at.timestamp():.6f}_{conversation.id.hex}"


def _decode_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if not cursor:
        return None
    match = re.fullmatch(r"([0-9]{1,12}\.[0-9]{6})_([0-9a-f]{32})", cursor)
    if match:
        try:
            return datetime.fromtimestamp(float(match.group(1)), UTC), uuid.UUID(match.group(2))
        except (ValueError, OverflowError, OSError):  # a well-formed time past the year 9999
            pass
    raise ValidationFailed("That page of the list does not exist.")


@dataclass
class SidebarPage:
    pinned: list[Conversation]
    recent: list[Conversation]
    next_cursor: str | None


def sidebar_page(user, cursor: str | None = None) -> SidebarPage:
    """Conversations outside any folder: the pinned ones (first page only) and a keyset page of the
    others, newest activity first, in one statement. (Folders list their own, see
    folders.services.folder_tree.)"""
    after = _decode_cursor(cursor)
    values = {"user_id": user.id}
    if after is not None:
        values["at"], values["last_id"] = after
    rows = list(db.session.scalars(_sidebar_statement(is_first_page=after is None), values))
    pinned = [row for row in rows if row.is_pinned]
    rows = rows[len(pinned):]
    recent = rows[:SIDEBAR_PAGE_SIZE]
    next_cursor = _encode_cursor(recent[-1]) if len(rows) > SIDEBAR_PAGE_SIZE else None
    return SidebarPage(pinned, recent, next_cursor)


@functools.cache
def _sidebar_statement(is_first_page: bool):
    """The sidebar's statement, built once (building it costs more CPU than running it): the first
    page holds the pinned conversations and the first recent ones, a later page those after the
    cursor (:at, :last_id); both of the user :user_id."""
    base = select(Conversation).where(Conversation.user_id == bindparam("user_id"),
                                      Conversation.is_archived.is_(False), Conversation.folder_id.is_(None))
    newest_first = (Conversation.last_activity_at.desc(), Conversation.id.desc())
    # The index's leading columns, constant in each part, lead the order too: PostgreSQL then reads
    # the index backwards and stops at the limit (it cannot tell on its own that `IS NULL` fixes
    # folder_id, and sorted every conversation outside folders).
    in_index_order = (Conversation.user_id.desc(), Conversation.is_archived.desc(), Conversation.folder_id.desc(),
                      Conversation.is_pinned.desc(), *newest_first)
    recent = base.where(Conversation.is_pinned.is_(False))
    if not is_first_page:
        at, last_id = bindparam("at", type_=Conversation.last_activity_at.type), bindparam("last_id")
        # The "<=" bound lets both databases seek in the index; the OR then only breaks ties.
        recent = recent.where(Conversation.last_activity_at <= at,
                              or_(Conversation.last_activity_at < at, Conversation.id < last_id))
    parts = [recent.order_by(*in_index_order).limit(SIDEBAR_PAGE_SIZE + 1)]
    if is_first_page:
        parts.insert(0, base.where(Conversation.is_pinned.is_(True)).order_by(*in_index_order).limit(PINNED_LIMIT))
    # Each part reads its own range of the index (a subquery each: SQLite allows no LIMIT in the
    # parts of a compound select); the list never shows the model, so it is not joined.
    listed = aliased(Conversation, union_all(*(select(part.subquery()) for part in parts)).subquery())
    return (select(listed).options(lazyload(listed.model))
            .order_by(listed.is_pinned.desc(), listed.last_activity_at.desc(), listed.id.desc()))


# Inside a folder: pinned first, then newest activity.
IN_FOLDER_ORDER = (Conversation.is_pinned.desc(), Conversation.last_activity_at.desc(), Conversation.id.desc())


def _unarchived_of(user):
    return (Conversation.user_id == user.id, Conversation.is_archived.is_(False))


def folder_conversation_counts(user) -> dict[uuid.UUID, int]:
    """How many unarchived conversations each of the user's folders holds, by folder id (one query)."""
    return dict(db.session.execute(
        select(Conversation.folder_id, func.count(Conversation.id))
        .where(*_unarchived_of(user), Conversation.folder_id.is_not(None))
        .group_by(Conversation.folder_id)).all())


def first_conversations_in_folders(user, folder_ids: list[uuid.UUID], per_folder: int) -> list[Conversation]:
    """The first `per_folder` unarchived conversations of each of these folders, in folder order
    (one query, whatever the number of folders)."""
    if not folder_ids:
        return []
    rank = func.row_number().over(partition_by=Conversation.folder_id, order_by=IN_FOLDER_ORDER).label("rank")
    ranked = (select(Conversation.id.label("id"), rank)
              .where(*_unarchived_of(user), Conversation.folder_id.in_(folder_ids)).subquery())
    return list(db.session.scalars(
        select(Conversation).join(ranked, ranked.c.id == Conversation.id)
        .options(lazyload(Conversation.model))  # the sidebar never shows the model: not joined
        .where(ranked.c.rank <= per_folder).order_by(ranked.c.rank)))


def conversations_in_folder(user, folder_id: uuid.UUID, page: int, size: int) -> tuple[list[Conversation], bool]:
    """A page of one folder's unarchived conversations, pinned first, and whether more follow."""
    return paginate(
        select(Conversation).where(*_unarchived_of(user), Conversation.folder_id == folder_id)
        .options(lazyload(Conversation.model)).order_by(*IN_FOLDER_ORDER), page, size)


def move_folder_contents(folder_id: uuid.UUID, to_folder_id: uuid.UUID | None) -> int:
    """Move every conversation of one folder into another (None: out of any folder), archived ones
    too; returns how many moved. Part of the caller's transaction (folders deletes the folder)."""
    return db.session.execute(
        update(Conversation).where(Conversation.folder_id == folder_id).values(folder_id=to_folder_id)).rowcount


def titles_of(conversation_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The titles of these conversations, by id (one query; the caller decided who may see them)."""
    if not conversation_ids:
        return {}
    return dict(db.session.execute(
        select(Conversation.id, Conversation.title).where(Conversation.id.in_(set(conversation_ids)))).all())


def recent_messages(conversation: Conversation, before_id: uuid.UUID | None = None) -> tuple[list[Message], bool]:
    """The last page of messages (oldest first) before `before_id`, and whether earlier ones exist."""
    query = select(Message).where(Message.conversation_id == conversation.id, is_current())
    if before_id is not None:
        query = query.where(Message.id < before_id)
    rows = list(db.session.scalars(query.order_by(Message.id.desc()).limit(MESSAGES_PAGE_SIZE + 1)))
    has_earlier = len(rows) > MESSAGES_PAGE_SIZE
    return list(reversed(rows[:MESSAGES_PAGE_SIZE])), has_earlier


@dataclass
class MessagesPage:
    """A page of a conversation's messages, oldest first, with what the page shows beside them: the
    reader's rating of each answer and the earlier versions of the messages that replaced others."""
    messages: list[Message]
    has_earlier: bool
    has_later: bool
    feedback: dict[uuid.UUID, FeedbackItem]
    previous_versions: dict[uuid.UUID, list[list[Message]]]


def messages_page(user, conversation: Conversation, *, before_id: uuid.UUID | None = None,
                  around_id: uuid.UUID | None = None) -> MessagesPage:
    """The last page of messages (before `before_id`, when given), or the page around one message
    (`around_id`, a search result; a message replaced since opens its current version). One
    statement (two around a message), plus one per level of earlier versions when a shown message
    has some."""
    values = {"conversation_id": conversation.id, "user_id": user.id}
    has_later = False
    if around_id is not None:
        message = get_message_in(conversation, around_id)
        for _ in range(MAX_PREVIOUS_VERSIONS * 10):
            if message.superseded_by_id is None:
                break
            message = get_message_in(conversation, message.superseded_by_id)
        half = MESSAGES_PAGE_SIZE // 2
        before = db.session.execute(_page_statement("before", half + 1), {**values, "message_id": message.id}).all()
        after = db.session.execute(_page_statement("from", half + 1), {**values, "message_id": message.id}).all()
        has_earlier, has_later = len(before) > half, len(after) > half
        rows = list(reversed(before[:half])) + after[:half]
    elif before_id is not None:
        rows = db.session.execute(_page_statement("before", MESSAGES_PAGE_SIZE + 1),
                                  {**values, "message_id": before_id}).all()
        has_earlier, rows = len(rows) > MESSAGES_PAGE_SIZE, list(reversed(rows[:MESSAGES_PAGE_SIZE]))
    else:
        rows = db.session.execute(_page_statement("latest", MESSAGES_PAGE_SIZE + 1), values).all()
        has_earlier, rows = len(rows) > MESSAGES_PAGE_SIZE, list(reversed(rows[:MESSAGES_PAGE_SIZE]))
    return MessagesPage(
        messages=[message for message, _rating, _replaced in rows], has_earlier=has_earlier, has_later=has_later,
        feedback={message.id: rating for message, rating, _replaced in rows if rating is not None},
        previous_versions=previous_versions([message for message, _rating, replaced in rows if replaced]))


@functools.cache
def _page_statement(kind: str, limit: int):
    """The messages of conversation :conversation_id as a page shows them, built once: each with the
    rating of user :user_id and whether it replaced earlier versions (the partial index on
    superseded_by_id answers that). `kind`: the latest, those before :message_id, or those from it on."""
    replaced = aliased(Message)
    has_versions = exists().where(replaced.superseded_by_id == Message.id)
    query = (select(Message, FeedbackItem, has_versions)
             .outerjoin(FeedbackItem, (FeedbackItem.message_id == Message.id)
                        & (FeedbackItem.user_id == bindparam("user_id", type_=FeedbackItem.user_id.type)))
             .where(Message.conversation_id == bindparam("conversation_id"), is_current())
             .options(lazyload(Message.options)))  # the generation options: only the generator reads them
    if kind == "from":
        return query.where(Message.id >= bindparam("message_id")).order_by(Message.id).limit(limit)
    if kind == "before":
        query = query.where(Message.id < bindparam("message_id"))
    return query.order_by(Message.id.desc()).limit(limit)


def last_messages(conversation: Conversation) -> tuple[Message | None, Message | None]:
    """The last user message and the last assistant message, for regenerate and edit."""
    rows = list(db.session.scalars(
        select(Message).where(Message.conversation_id == conversation.id, is_current())
        .order_by(Message.id.desc()).limit(2)))
    last_user = next((m for m in rows if m.role == "user"), None)
    last_assistant = rows[0] if rows and rows[0].role == "assistant" else None
    return last_user, last_assistant


def previous_versions(messages: list[Message]) -> dict[uuid.UUID, list[list[Message]]]:
    """For each shown message that replaced others, its earlier versions, newest first: for an edited
    question each version is the old question and the answer it had; for a regenerated answer, the
    old answer. One query per level of history, only for messages that have one (each row says
    whether it replaced others in turn, so the last level costs no query)."""
    versions: dict[uuid.UUID, list[list[Message]]] = {}
    # Follow each message back through replacements of its own role (question to question,
    # answer to answer); `leads_to` maps a message on that chain to the shown message.
    leads_to = {m.id: m for m in messages}
    replaced = aliased(Message)
    for _ in range(MAX_PREVIOUS_VERSIONS):
        if not leads_to:
            break
        rows = db.session.execute(
            select(Message, exists().where(replaced.superseded_by_id == Message.id))
            .where(Message.superseded_by_id.in_(list(leads_to)))
            .options(lazyload(Message.options)).order_by(Message.id)).all()
        groups: dict[uuid.UUID, list[Message]] = {}
        for row, _has_versions in rows:
            groups.setdefault(row.superseded_by_id, []).append(row)
        for replaced_by, group in groups.items():
            versions.setdefault(leads_to[replaced_by].id, []).append(group)
        leads_to = {row.id: leads_to[row.superseded_by_id] for row, has_versions in rows
                    if has_versions and row.role == leads_to[row.superseded_by_id].role}
    return versions


def last_finished_message_id(conversation: Conversation) -> uuid.UUID | None:
    """The last finished message of the conversation as it is now (an answer being written is left
    out): where a share snapshot ends."""
    return db.session.scalar(
        select(Message.id).where(Message.conversation_id == conversation.id, is_current(),
                                 Message.status != "streaming")
        .order_by(Message.id.desc()).limit(1))


def messages_as_of(conversation_id: uuid.UUID, boundary: uuid.UUID | None, limit: int) -> list[Message]:
    """The messages as they were when `boundary` was the last finished one, oldest first: those that
    existed then and had not yet been replaced. Ids are ordered in time, and a replacement happens
    when its new message is made, so "replaced by a message after the boundary" means "still current
    then"."""
    if boundary is None:
        return []
    return list(db.session.scalars(
        select(Message).where(Message.conversation_id == conversation_id, Message.id <= boundary,
                              or_(Message.superseded_by_id.is_(None), Message.superseded_by_id > boundary),
                              Message.status != "streaming")
        .order_by(Message.id).limit(limit)))


def streaming_message(conversation: Conversation) -> Message | None:
    return db.session.scalar(select(Message).where(
        Message.conversation_id == conversation.id, Message.status == "streaming").limit(1))


def history_for(message: Message) -> list[Message]:
    """The messages before `message` that the model should see (failed and empty answers left out)."""
    rows = db.session.scalars(
        select(Message).where(Message.conversation_id == message.conversation_id, Message.id < message.id,
                              is_current(), Message.content != "")
        .order_by(Message.id.desc()).limit(HISTORY_MESSAGES))
    return [m for m in reversed(list(rows)) if not (m.role == "assistant" and m.status == "failed")]


# --- writing -------------------------------------------------------------------------------------

def _clean_text(text: str | None, limit: int, what: str) -> str:
    text = (text or "").replace("\x00", "").strip()
    if not text:
        raise ValidationFailed(f"Write a {what} first.")
    if len(text) > limit:
        raise ValidationFailed(f"The {what} is too long: {len(text):,} characters, at most {limit:,}.")
    return text


# Literal values, not bound ones: only then do SQLite and PostgreSQL use the partial index
# ix_nexus_messages_in_progress, whose condition this is.
ANSWER_IN_PROGRESS = text("nexus_messages.status IN ('streaming', 'pending')")
ANSWER_SLOT_RETRY_AFTER_SECONDS = 10
# An answer whose generator has not beaten for this long is abandoned: it no longer counts as being
# written, and streaming.reap_if_stale() marks it failed.
HEARTBEAT_STALE_AFTER = timedelta(seconds=30)


def _lock_answers_of(user_id: uuid.UUID) -> None:
    """Serialise starting answers per person until the transaction ends, so parallel requests count
    each other: an advisory lock on PostgreSQL; on SQLite its one writer lock, taken by a write that
    changes nothing."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                           {"key": f"answers-being-written:{user_id}"})
    else:
        db.session.execute(update(Conversation).where(Conversation.user_id == user_id, false())
                           .values(user_id=Conversation.user_id).execution_options(synchronize_session=False))


def answers_being_written_count(user_id: uuid.UUID) -> int:
    """The person's answers still being written; one whose generator stopped beating is not counted."""
    return db.session.scalar(select(func.count()).select_from(Message).where(
        Message.user_id == user_id, ANSWER_IN_PROGRESS,
        or_(Message.heartbeat_at.is_(None), Message.heartbeat_at >= utcnow() - HEARTBEAT_STALE_AFTER)))


def _claim_answer_slot(user_id: uuid.UUID) -> None:
    """Refuse a new answer while the person has LIMIT_CONCURRENT_GENERATIONS being written. The lock
    is held until the caller commits the new answer, so two requests cannot both take the last slot."""
    limit = current_app.config["LIMIT_CONCURRENT_GENERATIONS"]
    _lock_answers_of(user_id)
    if answers_being_written_count(user_id) >= limit:
        db.session.rollback()  # nothing of the refused request is kept; the page keeps what was typed
        answers, which = ("answers", "one") if limit != 1 else ("answer", "it")
        raise LimitReached(f"You already have {limit} {answers} being written; wait for {which} to finish.",
                           retry_after_seconds=ANSWER_SLOT_RETRY_AFTER_SECONDS)


def _new_assistant_message(conversation: Conversation, model: AIModel, options: GenerationOptions,
                           question: Message | None = None) -> Message:
    """The answer to stream into, once the person has a free slot (every way of asking comes here);
    `question`, not yet added, is added with it, so both are inserted in one statement."""
    _claim_answer_slot(conversation.user_id)
    message = Message(conversation_id=conversation.id, user_id=conversation.user_id, role="assistant", content="",
                      model_id=model.id,
                      status="streaming", heartbeat_at=utcnow())
    if not options.is_empty():
        message.options = MessageOptions(**options.__dict__)
    db.session.add_all([question, message] if question is not None else [message])  # in this order: ids ascend
    return message


def _touch(conversation: Conversation, added_messages: int, tenant_id: uuid.UUID) -> None:
    """Mark the conversation active with its new messages, and count the answer asked for against the
    organisation `tenant_id` (billing's messages per day): the conversation's row first, then the
    counters, the order in which every provider call's record() takes them too."""
    now = utcnow()
    db.session.execute(update(Conversation).where(Conversation.id == conversation.id).values(
        message_count=Conversation.message_count + added_messages, last_message_at=now, last_activity_at=now))
    metering.count_message(tenant_id, conversation.user_id)


def start_conversation(user, model_id: int | None, text: str, options: GenerationOptions, client_request_id: str | None,
                       system_prompt: str | None = None, tenant_id: uuid.UUID | None = None, *,
                       keep_loaded: bool = False) -> tuple[Conversation, Message | None]:
    """Open a conversation with its first message and an answer to write with the model `model_id`
    (None: the role's default), which the user's role must be allowed (NotFound or Forbidden
    otherwise), billed to the organisation `tenant_id` (None: the user's personal one; see
    billing.limits.check_can_send, which refuses before anything is written). A repeated client
    token returns the conversation first made, and no answer. `keep_loaded`: see _commit()."""
    model = model_services.model_for_use(user.role, model_id)
    text = _clean_text(text, MAX_MESSAGE_CHARS, "message")
    tenant_id = billing_limits.check_can_send(user, tenant_id)
    client_request_id = (client_request_id or "")[:64] or None
    now = utcnow()
    # Made with its two messages counted (no UPDATE after): nobody else can see the row before commit.
    conversation = Conversation(user_id=user.id, model_id=model.id, client_request_id=client_request_id,
                                system_prompt=_clean_system_prompt(system_prompt), tenant_id=tenant_id,
                                message_count=2, last_message_at=now, last_activity_at=now)
    db.session.add(conversation)
    try:
        db.session.flush()  # a client token used before (unique per user) fails here, before any lock
    except IntegrityError:
        db.session.rollback()
        return db.session.scalar(select(Conversation).where(
            Conversation.user_id == user.id, Conversation.client_request_id == client_request_id)), None
    # Every column the answer sets, set here too: rows with the same columns are inserted together.
    question = Message(conversation_id=conversation.id, user_id=user.id, role="user", content=text, status="complete")
    assistant = _new_assistant_message(conversation, model, options, question)
    metering.count_message(tenant_id, user.id)
    _commit(keep_loaded)
    return conversation, assistant


def send_message(user, conversation: Conversation, model_id: int | None, text: str, options: GenerationOptions,
                 client_request_id: str | None, *, keep_loaded: bool = False) -> tuple[Message | None, Message | None]:
    """Store the user's message and an assistant message to stream into, from the model `model_id`
    as the user's role allows it (see start_conversation); returns (None, None) when this client
    token was already used (a double click). `keep_loaded`: see _commit()."""
    model = model_services.model_for_use(user.role, model_id)
    text = _clean_text(text, MAX_MESSAGE_CHARS, "message")
    tenant_id = billing_limits.check_can_send(user, conversation.tenant_id)
    client_request_id = (client_request_id or "")[:64] or None
    is_repeated, is_streaming = db.session.execute(select(  # both in one statement
        exists().where(Message.conversation_id == conversation.id, Message.client_request_id == client_request_id)
        if client_request_id else false(),
        exists().where(Message.conversation_id == conversation.id, Message.status == "streaming"))).one()
    if is_repeated:
        return None, None
    if is_streaming:
        raise Conflict("An answer is still being written. Wait for it or stop it first.")
    user_message = Message(conversation_id=conversation.id, user_id=user.id, role="user", content=text,
                           client_request_id=client_request_id)
    db.session.add(user_message)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return None, None
    conversation.model_id = model.id
    assistant = _new_assistant_message(conversation, model, options)
    _touch(conversation, 2, tenant_id)
    _commit(keep_loaded)
    return user_message, assistant


def _commit(keep_loaded: bool) -> None:
    """Commit a send. With `keep_loaded` what the session holds is not expired: for a caller (a page)
    that goes on only to show what it just wrote and read a moment ago, in this request, where reading
    each row again would cost a statement (the answer's text is followed by its stream). A caller that
    reads the answer again later in the same session (the API waits for it) keeps the default."""
    if keep_loaded:
        commit_keeping_loaded()
    else:
        db.session.commit()


def _supersede(messages: list[Message | None], replacement: Message) -> None:
    """Mark messages as replaced by `replacement` (flushed, so it has its id); they are kept as they are."""
    now = utcnow()
    for message in messages:
        if message is not None:
            message.superseded_at, message.superseded_by_id = now, replacement.id


def regenerate_last_answer(user, conversation: Conversation, model_id: int | None,
                           options: GenerationOptions) -> Message:
    """A new answer to the last message, streamed from the model `model_id` as the user's role
    allows it; the last answer (complete, stopped or failed) is kept as its previous version."""
    model = model_services.model_for_use(user.role, model_id)
    tenant_id = billing_limits.check_can_send(user, conversation.tenant_id)
    if streaming_message(conversation) is not None:
        raise Conflict("An answer is still being written. Wait for it or stop it first.")
    last_user, last_assistant = last_messages(conversation)
    if last_user is None:
        raise ValidationFailed("There is no message to answer yet.")
    conversation.model_id = model.id
    assistant = _new_assistant_message(conversation, model, options)
    db.session.flush()
    _supersede([last_assistant], assistant)
    _touch(conversation, 0 if last_assistant is not None else 1, tenant_id)
    db.session.commit()
    return assistant


def edit_last_user_message(user, conversation: Conversation, model_id: int | None, text: str,
                           options: GenerationOptions) -> Message:
    """Send a changed version of the last user message and answer it with the model `model_id` as
    the user's role allows it; the original message and its answer are kept as the previous version
    (a share link made before still shows them)."""
    model = model_services.model_for_use(user.role, model_id)
    text = _clean_text(text, MAX_MESSAGE_CHARS, "message")
    tenant_id = billing_limits.check_can_send(user, conversation.tenant_id)
    if streaming_message(conversation) is not None:
        raise Conflict("An answer is still being written. Wait for it or stop it first.")
    last_user, last_assistant = last_messages(conversation)
    if last_user is None:
        raise ValidationFailed("There is no message to edit.")
    edited = Message(conversation_id=conversation.id, user_id=user.id, role="user", content=text)
    db.session.add(edited)
    db.session.flush()
    # Both replaced by the edited question: a snapshot taken while the new answer is still being
    # written shows the edited question alone, never the old answer under it.
    _supersede([last_user, last_assistant], edited)
    conversation.model_id = model.id
    assistant = _new_assistant_message(conversation, model, options)
    _touch(conversation, 1 if last_assistant is None else 0, tenant_id)
    db.session.commit()
    return assistant


def request_stop(user, conversation: Conversation) -> Message | None:
    """Ask the generator (in whichever process) to stop; the partial text is kept."""
    message = streaming_message(conversation)
    if message is None:
        return None
    db.session.execute(update(Message).where(Message.id == message.id, Message.stop_requested_at.is_(None))
                       .values(stop_requested_at=utcnow()))
    db.session.commit()
    return message


def _clean_system_prompt(text: str | None) -> str | None:
    text = (text or "").replace("\x00", "").strip()
    if len(text) > MAX_SYSTEM_PROMPT_CHARS:
        raise ValidationFailed(f"The system prompt is too long: at most {MAX_SYSTEM_PROMPT_CHARS:,} characters.")
    return text or None


def update_settings(user, conversation: Conversation, model: AIModel, system_prompt: str | None,
                    is_summary_enabled: bool | None = None, tenant_id: uuid.UUID | None = None) -> None:
    """Change the model, the system prompt, (when given) whether left-out turns are summarised and
    the organisation it bills to (one the user may bill: NotFound or Forbidden otherwise)."""
    if tenant_id is not None:
        conversation.tenant_id = billing_organisations.bill_to(user, tenant_id)
    conversation.model_id = model.id
    conversation.system_prompt = _clean_system_prompt(system_prompt)
    if is_summary_enabled is not None:
        conversation.is_summary_enabled = bool(is_summary_enabled)
    db.session.commit()


def rename(user, conversation: Conversation, title: str) -> None:
    conversation.title = _clean_text(title, MAX_TITLE_CHARS, "title")
    conversation.is_title_set_by_user = True
    db.session.commit()


def set_pinned(user, conversation: Conversation, is_pinned: bool) -> None:
    conversation.is_pinned = is_pinned
    db.session.commit()


ARCHIVE_PAGE_SIZE = 30


def archived_page(user, page: int) -> tuple[list[Conversation], bool]:
    """A page of the user's archived conversations, newest activity first."""
    return paginate(
        select(Conversation).where(Conversation.user_id == user.id, Conversation.is_archived.is_(True))
        .order_by(Conversation.last_activity_at.desc(), Conversation.id.desc()), page, ARCHIVE_PAGE_SIZE)


def conversations_page(user, page: int, size: int) -> tuple[list[Conversation], bool]:
    """A page of all the user's conversations (archived and in folders too), newest activity first (the API)."""
    return paginate(
        select(Conversation).where(Conversation.user_id == user.id)
        .order_by(Conversation.last_activity_at.desc(), Conversation.id.desc()), page, size)


def set_archived(user, conversation: Conversation, is_archived: bool) -> None:
    conversation.is_archived = is_archived
    db.session.commit()


def delete_conversation(user, conversation: Conversation) -> None:
    """Delete a conversation and its messages; an answer being written stops with it."""
    db.session.execute(delete(FeedbackItem).where(FeedbackItem.chat_id == conversation.id))
    db.session.delete(conversation)
    db.session.commit()


def record_feedback(user, conversation: Conversation, message: Message, category: str,
                    comment: str | None) -> FeedbackItem:
    """Thumbs up or down (one per person and answer; a new one replaces the old)."""
    if message.role != "assistant":
        raise ValidationFailed("Only answers can be rated.")
    if category not in ("up", "down"):
        raise ValidationFailed("Choose thumbs up or thumbs down.")
    comment = (comment or "").strip()
    if len(comment) > MAX_FEEDBACK_CHARS:
        raise ValidationFailed(f"The comment is too long: at most {MAX_FEEDBACK_CHARS:,} characters.")
    item = db.session.scalar(select(FeedbackItem).where(
        FeedbackItem.user_id == user.id, FeedbackItem.message_id == message.id))
    if item is None:
        item = FeedbackItem(user_id=user.id, chat_id=conversation.id, message_id=message.id)
        db.session.add(item)
    item.category, item.content = category, comment or None
    item.model_request_id = db.session.scalar(
        select(ModelRequest.id).where(ModelRequest.message_id == message.id)
        .order_by(ModelRequest.requested_at.desc()).limit(1))
    db.session.commit()
    return item


def feedback_by(user, message_ids: list[uuid.UUID]) -> dict[uuid.UUID, FeedbackItem]:
    if not message_ids:
        return {}
    rows = db.session.scalars(select(FeedbackItem).where(
        FeedbackItem.user_id == user.id, FeedbackItem.message_id.in_(message_ids)))
    return {item.message_id: item for item in rows}


def usage_this_month(user) -> dict:
    """Calls, tokens and cost of the user's provider calls since the first of this month (UTC)."""
    now = utcnow()
    month_start = datetime(now.year, now.month, 1, tzinfo=UTC)
    row = db.session.execute(
        select(func.count(ModelRequest.id), func.coalesce(func.sum(ModelRequest.input_tokens), 0),
               func.coalesce(func.sum(ModelRequest.output_tokens), 0),
               func.coalesce(func.sum(ModelRequest.total_cost_usd), 0))
        .where(ModelRequest.user_id == user.id, ModelRequest.requested_at >= month_start)).one()
    return {"requests": row[0], "input_tokens": int(row[1]), "output_tokens": int(row[2]),
            "cost_usd": Decimal(row[3] or 0), "since": month_start}


@dataclass(frozen=True)
class ImportedMessage:
    role: str  # user | assistant | system
    content: str
    created_at: datetime | None = None
    model_name: str | None = None
    content_html: str | None = None  # rendered by the caller before its write transaction opens


def add_imported_conversation(user, title: str, messages: list[ImportedMessage], *,
                              created_at: datetime | None = None, model: AIModel | None = None,
                              system_prompt: str | None = None, source_id: str | None = None) -> Conversation:
    """Add a finished conversation (from an export) to the current transaction; the caller commits
    (a batch of an import at a time). Text is stored as written and rendered safely once: pass
    `content_html` already rendered, or rendering runs here, inside the caller's write transaction.
    `source_id` (unique per user) marks where it came from, so an import never adds it twice."""
    now = utcnow()
    created_at = created_at or now
    last_at = max((m.created_at for m in messages if m.created_at), default=created_at)
    conversation = Conversation(
        user_id=user.id, title=(title or DEFAULT_TITLE).strip()[:MAX_TITLE_CHARS] or DEFAULT_TITLE,
        model_id=model.id if model else None, is_title_set_by_user=True, message_count=len(messages),
        system_prompt=system_prompt, import_source_id=source_id,
        last_message_at=last_at if messages else None, last_activity_at=last_at, created_at=created_at)
    db.session.add(conversation)
    db.session.flush()
    for imported in messages:
        content = imported.content.replace("\x00", "")
        db.session.add(Message(
            conversation_id=conversation.id, user_id=user.id, role=imported.role, content=content,
            content_html=(imported.content_html if imported.content_html is not None else render_markdown_safe(content))
            if imported.role == "assistant" else None,
            renderer_version=RENDERER_VERSION, status="complete", created_at=imported.created_at or created_at,
            parts=[{"type": "text", "text": content}] + _imported_model_part(imported.model_name)))
    db.session.flush()
    return conversation


def _imported_model_part(model_name: str | None) -> list[dict]:
    """The message part that remembers which model wrote an imported answer (none when unknown)."""
    return [{"type": "data", "data_content": {"imported_model": model_name}}] if model_name else []


def imported_source_ids(user, source_ids: list[str]) -> set[str]:
    """Which of these import source ids the user's conversations already carry."""
    if not source_ids:
        return set()
    return set(db.session.scalars(select(Conversation.import_source_id).where(
        Conversation.user_id == user.id, Conversation.import_source_id.in_(source_ids))))


def stored_totals(user) -> tuple[int, int]:
    """What the user holds: (conversations, characters of message text)."""
    conversations = db.session.scalar(select(func.count()).select_from(Conversation)
                                      .where(Conversation.user_id == user.id))
    characters = db.session.scalar(  # through the conversations, whose user_id is indexed
        select(func.coalesce(func.sum(func.length(Message.content)), 0))
        .join(Conversation, Conversation.id == Message.conversation_id).where(Conversation.user_id == user.id))
    return conversations or 0, int(characters or 0)


def continue_conversation(user, source: Conversation, messages: list[ImportedMessage]) -> Conversation:
    """A new conversation of `user` holding a copy of `messages` from `source` (a shared snapshot),
    titled after it and on top of their sidebar; `source`'s model comes along only when the user's
    role may use it. Part of the caller's transaction."""
    conversation = add_imported_conversation(
        user, f"{source.title} (continued)", messages, created_at=utcnow(), model=source.model)
    conversation.model_id = source.model_id if source.model and source.model.allows_role(user.role) else None
    conversation.last_activity_at = utcnow()
    return conversation


def heuristic_title(text: str, limit: int = 60) -> str:
    """A title from the first line of the first message, cut at a word boundary."""
    line = " ".join((text or "").strip().split("\n", 1)[0].split())
    line = re.sub(r"^[#>*\-\s]+", "", line)
    if not line:
        return DEFAULT_TITLE
    if len(line) <= limit:
        return line
    cut = line[:limit].rsplit(" ", 1)[0] or line[:limit]
    return cut.rstrip(",.;:") + "…"
