"""Prompt library rules: who sees which prompt, saving with tags and variables, optimistic locking,
moderation, views and uses. Services take the acting user and plain values; they never read the request."""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import Date, Uuid, and_, func, literal, or_, select, update
from sqlalchemy.orm import defer, joinedload, selectinload, with_expression
from sqlalchemy.orm.exc import StaleDataError

from app.chat import services as chat_services
from app.chat.services import MAX_MESSAGE_CHARS
from app.core.pages import paginate
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models.base import UTCDateTime, escape_like, insert_ignoring_duplicates, utcnow
from app.prompts.models import Prompt, PromptUsageEvent, PromptView, Tag, prompt_library_tags
from app.prompts.variables import Variable, VariableError, fill, parse_variables
from app.security.audit import record_audit
from app.security.origin import Origin
from app.security.roles import role_at_least

PAGE_SIZE = 20
MAX_TITLE_CHARS = 200
MAX_DESCRIPTION_CHARS = 2_000
MAX_CONTENT_CHARS = MAX_MESSAGE_CHARS  # the composer's limit: a prompt without variables always fits
MAX_TAGS = 10
MAX_TAG_CHARS = 40
MAX_FILTER_TAGS = 5
MAX_QUERY_CHARS = 100
MAX_REASON_CHARS = 1_000
MAX_VALUE_CHARS = 4_000
PREVIEW_CHARS = 240
TABS = ("mine", "public")
SORTS = ("newest", "popular")
STALE_MESSAGE = "This prompt changed since you opened it."

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class PromptInvalid(ValidationFailed):
    """Bad input for one field of a prompt form (`field` names it, so the page shows it there)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class StalePrompt(Conflict):
    """The prompt was saved by someone (or something) else since the form was opened."""

    def __init__(self, current: Prompt, message: str = STALE_MESSAGE):
        super().__init__(message)
        self.current = current


@dataclass(frozen=True)
class PromptInput:
    title: str
    content: str
    description: str | None = None
    tags: str | None = None
    visibility: str = "private"


@dataclass
class PromptPage:
    prompts: list[Prompt]
    page: int
    has_more: bool


# --- cleaning ------------------------------------------------------------------------------------

def _clean(text: str | None) -> str:
    return _CONTROL.sub("", (text or "").replace("\r\n", "\n")).strip()


def clean_tags(text: str | None) -> list[str]:
    """Tag names from a comma-separated text: trimmed, lower-case, spaces collapsed, each once."""
    names: list[str] = []
    for raw in (text or "").split(","):
        name = " ".join(_clean(raw).lower().split())
        if not name or name in names:
            continue
        if len(name) > MAX_TAG_CHARS:
            raise PromptInvalid(f"A tag has at most {MAX_TAG_CHARS} characters: “{name[:50]}…” is longer.", "tags")
        names.append(name)
    if len(names) > MAX_TAGS:
        raise PromptInvalid(f"At most {MAX_TAGS} tags per prompt.", "tags")
    return names


def filter_tag_names(text: str | None, limit: int = MAX_FILTER_TAGS) -> list[str]:
    """Tag names to filter by, leniently: unknown or overlong ones simply match nothing."""
    names: list[str] = []
    for raw in (text or "").split(","):
        name = " ".join(_clean(raw).lower().split())[:MAX_TAG_CHARS]
        if name and name not in names:
            names.append(name)
    return names[:limit]


def _clean_input(data: PromptInput) -> tuple[dict, list[Variable], list[str]]:
    title = " ".join(_clean(data.title).split())
    content = _clean(data.content)
    description = _clean(data.description) or None
    if not title:
        raise PromptInvalid("Give the prompt a title.", "title")
    if len(title) > MAX_TITLE_CHARS:
        raise PromptInvalid(f"A title has at most {MAX_TITLE_CHARS} characters.", "title")
    if not content:
        raise PromptInvalid("Write the prompt's text.", "content")
    if len(content) > MAX_CONTENT_CHARS:
        raise PromptInvalid(f"The text is too long: {len(content):,} characters, at most {MAX_CONTENT_CHARS:,}.",
                            "content")
    if description and len(description) > MAX_DESCRIPTION_CHARS:
        raise PromptInvalid(f"A description has at most {MAX_DESCRIPTION_CHARS:,} characters.", "description")
    if data.visibility not in ("private", "public"):
        raise PromptInvalid("Choose private or public.", "visibility")
    try:
        variables = parse_variables(content)
    except VariableError as error:
        raise PromptInvalid(str(error), "content") from None
    fields = {"title": title, "content": content, "description": description, "visibility": data.visibility}
    return fields, variables, clean_tags(data.tags)


def _tags_named(names: list[str]) -> list[Tag]:
    """The Tag rows of these names, creating the new ones (safe when two people add one at once)."""
    if not names:
        return []
    now = utcnow()
    db.session.execute(insert_ignoring_duplicates(Tag.__table__), [{"name": name, "created_at": now} for name in names])
    by_name = {tag.name: tag for tag in db.session.scalars(select(Tag).where(Tag.name.in_(names)))}
    return [by_name[name] for name in names]


# --- reading -------------------------------------------------------------------------------------

def can_moderate(user) -> bool:
    return role_at_least(getattr(user, "role", None), "moderator")


def _with_details(statement):
    return statement.options(selectinload(Prompt.tags), joinedload(Prompt.author))


def _load(prompt_id) -> Prompt | None:
    return db.session.scalar(_with_details(select(Prompt).where(Prompt.id == prompt_id, Prompt.deleted_at.is_(None))))


def is_visible_to(user, prompt: Prompt) -> bool:
    """The author sees their prompt; everyone sees approved public ones; moderators see those submitted."""
    if prompt.deleted_at is not None:
        return False
    if prompt.user_id == user.id or prompt.moderation_status == "approved":
        return True
    return prompt.visibility == "public" and can_moderate(user)


def get_prompt_for(user, prompt_id: uuid.UUID) -> Prompt:
    """A prompt the user may see (tags and author loaded); anything else answers NotFound."""
    prompt = _load(prompt_id)
    if prompt is None or not is_visible_to(user, prompt):
        raise NotFound("There is no such prompt.")
    return prompt


def get_own_prompt(user, prompt_id: uuid.UUID) -> Prompt:
    """One of the user's own prompts (to edit or delete); anybody else's answers NotFound."""
    prompt = _load(prompt_id)
    if prompt is None or prompt.user_id != user.id:
        raise NotFound("There is no such prompt.")
    return prompt


def list_prompts(user, tab: str = "mine", query: str = "", tag_names: list[str] | None = None,
                 sort: str = "newest", page: int = 1) -> PromptPage:
    """A page of the user's prompts ("mine") or of approved public ones ("public"), matching the
    text and carrying every tag given; newest or most used first. Content is cut to a preview."""
    statement = select(Prompt).where(Prompt.deleted_at.is_(None))
    if tab == "public":
        statement = statement.where(Prompt.moderation_status == "approved")
    else:
        statement = statement.where(Prompt.user_id == user.id)
    query = _clean(query)[:MAX_QUERY_CHARS].lower()
    if query:
        pattern = f"%{escape_like(query)}%"
        statement = statement.where(or_(
            func.lower(Prompt.title).like(pattern, escape="\\"),
            func.lower(Prompt.description).like(pattern, escape="\\"),
            func.lower(Prompt.content).like(pattern, escape="\\")))
    for name in (tag_names or [])[:MAX_FILTER_TAGS]:
        tagged = (select(prompt_library_tags.c.prompt_id)
                  .join(Tag, Tag.id == prompt_library_tags.c.tag_id).where(Tag.name == name))
        statement = statement.where(Prompt.id.in_(tagged))
    if sort == "popular":
        statement = statement.order_by(Prompt.use_count.desc(), Prompt.created_at.desc(), Prompt.id.desc())
    else:
        statement = statement.order_by(Prompt.created_at.desc(), Prompt.id.desc())
    statement = _with_details(statement).options(
        defer(Prompt.content), with_expression(Prompt.preview, func.substr(Prompt.content, 1, PREVIEW_CHARS)))
    prompts, has_more = paginate(statement, page, PAGE_SIZE)
    return PromptPage(prompts, page, has_more)


def tag_suggestions(user, prefix: str, limit: int = 8) -> list[str]:
    """Tag names starting with `prefix`, only from prompts the user can see (a private prompt's
    tags are nobody else's business)."""
    prefix = " ".join(_clean(prefix).lower().split())[:MAX_TAG_CHARS]
    visible = and_(Prompt.deleted_at.is_(None),
                   or_(Prompt.user_id == user.id, Prompt.moderation_status == "approved"))
    statement = (select(Tag.name).join(prompt_library_tags, prompt_library_tags.c.tag_id == Tag.id)
                 .join(Prompt, Prompt.id == prompt_library_tags.c.prompt_id).where(visible)
                 .group_by(Tag.name).order_by(func.count().desc(), Tag.name).limit(limit))
    if prefix:
        statement = statement.where(Tag.name.like(f"{escape_like(prefix)}%", escape="\\"))
    return list(db.session.scalars(statement))


def moderation_queue(page: int = 1) -> PromptPage:
    """Public prompts waiting for review, the longest-waiting first."""
    statement = _with_details(select(Prompt).where(Prompt.moderation_status == "pending", Prompt.deleted_at.is_(None))
                              .order_by(Prompt.submitted_at, Prompt.id))
    prompts, has_more = paginate(statement, page, PAGE_SIZE)
    return PromptPage(prompts, page, has_more)


# --- writing -------------------------------------------------------------------------------------

def source_message_for(user, message_id: uuid.UUID):
    """The user's own chat message to save as a prompt (another person's answers NotFound)."""
    return chat_services.get_message_for_user(user, message_id)


def suggested_title(text: str) -> str:
    return chat_services.heuristic_title(text)


def _submit_for_review(prompt: Prompt) -> None:
    prompt.moderation_status = "pending"
    prompt.submitted_at = utcnow()
    prompt.moderation_reason = None
    prompt.moderated_by = None
    prompt.moderated_at = None


def create_prompt(user, data: PromptInput, from_message_id: uuid.UUID | None = None) -> Prompt:
    """Save a new prompt; a public one waits for a moderator. From a chat message, its source is kept."""
    fields, variables, tag_names = _clean_input(data)
    prompt = Prompt(user_id=user.id, variables=[v.as_json() for v in variables], moderation_status="none", **fields)
    if from_message_id is not None:
        message = source_message_for(user, from_message_id)
        prompt.source_message_id, prompt.source_conversation_id = message.id, message.conversation_id
    if prompt.visibility == "public":
        _submit_for_review(prompt)
    prompt.tags = _tags_named(tag_names)
    db.session.add(prompt)
    db.session.commit()
    return prompt


def _snapshot(prompt: Prompt) -> dict:
    return {"title": prompt.title, "content": prompt.content, "description": prompt.description,
            "visibility": prompt.visibility, "tags": [tag.name for tag in prompt.tags]}


def _reload_current(prompt_id: uuid.UUID) -> Prompt:
    db.session.rollback()
    db.session.expire_all()
    current = _load(prompt_id)
    if current is None:
        raise NotFound("There is no such prompt.")
    return current


def update_prompt(user, prompt_id: uuid.UUID, data: PromptInput, expected_version: int | None) -> Prompt:
    """Save an edit made on `expected_version`; a newer version refuses it (StalePrompt, with the
    current one). Any change to a public prompt sends it back to review."""
    prompt = get_own_prompt(user, prompt_id)
    if expected_version != prompt.version:
        raise StalePrompt(prompt)
    fields, variables, tag_names = _clean_input(data)
    before = _snapshot(prompt)
    after = {**fields, "tags": tag_names}
    if after == before:
        return prompt
    # Tags first: creating one runs SQL, and an autoflush of half-set fields would bump the version twice.
    new_tags = _tags_named(tag_names) if tag_names != before["tags"] else None
    for name, value in fields.items():
        setattr(prompt, name, value)
    prompt.variables = [v.as_json() for v in variables]
    if new_tags is not None:
        prompt.tags = new_tags
    if prompt.visibility == "public":
        _submit_for_review(prompt)
    else:
        prompt.moderation_status, prompt.moderation_reason, prompt.submitted_at = "none", None, None
    prompt.updated_at = utcnow()  # always an UPDATE, so the version moves even when only tags changed
    try:
        db.session.flush()
    except StaleDataError:
        raise StalePrompt(_reload_current(prompt_id)) from None
    db.session.commit()
    return prompt


def delete_prompt(user, prompt_id: uuid.UUID) -> Prompt:
    """Soft delete: the prompt leaves every list and link; its rows stay for the counts' history."""
    prompt = get_own_prompt(user, prompt_id)
    prompt.deleted_at = utcnow()
    db.session.commit()
    return prompt


def count_view(user, prompt_id: uuid.UUID) -> None:
    """Count a view of a published prompt once per viewer per (UTC) day; the author's own do not count.
    One INSERT … SELECT: the prompt's own row decides (approved, not deleted, not the viewer's)."""
    prompts = Prompt.__table__
    now = utcnow()
    viewer = select(
        prompts.c.id, literal(user.id, Uuid()), literal(now.date(), Date()), literal(now, UTCDateTime()),
    ).where(
        prompts.c.id == prompt_id, prompts.c.moderation_status == "approved", prompts.c.deleted_at.is_(None),
        prompts.c.user_id != user.id)
    views = PromptView.__table__
    inserted = db.session.execute(insert_ignoring_duplicates(views).from_select(
        ["prompt_id", "user_id", "viewed_on", "created_at"], viewer).returning(views.c.prompt_id)).first()
    if inserted is not None:
        # Core UPDATE: a counter is not an edit, so the version (optimistic lock) stays.
        db.session.execute(update(prompts).where(prompts.c.id == prompt_id)
                           .values(view_count=prompts.c.view_count + 1))
    db.session.commit()


def variables_of(prompt: Prompt) -> list[Variable]:
    return [Variable.from_json(item) for item in (prompt.variables or [])]


def use_prompt(user, prompt_id: uuid.UUID, values: dict[str, str]) -> PromptUsageEvent:
    """Fill the prompt's variables (plain substitution, never a template), log the use with the
    filled text, and count it. The chat reads the text back with `filled_text_for_use`."""
    prompt = get_prompt_for(user, prompt_id)
    cleaned: dict[str, str] = {}
    for variable in variables_of(prompt):
        value = _CONTROL.sub("", (values.get(variable.name) or "").replace("\r\n", "\n")).strip()
        if not value:
            raise PromptInvalid(f"Fill in “{variable.name}”.", variable.name)
        if len(value) > MAX_VALUE_CHARS:
            raise PromptInvalid(f"At most {MAX_VALUE_CHARS:,} characters.", variable.name)
        cleaned[variable.name] = value
    filled = fill(prompt.content, cleaned)
    if len(filled) > MAX_MESSAGE_CHARS:
        raise PromptInvalid(f"Filled in, the prompt is {len(filled):,} characters; a chat message has at most "
                            f"{MAX_MESSAGE_CHARS:,}. Shorten the values.")
    event = PromptUsageEvent(prompt_id=prompt.id, user_id=user.id, event_type="use", filled_content=filled)
    db.session.add(event)
    db.session.execute(update(Prompt.__table__).where(Prompt.__table__.c.id == prompt.id)
                       .values(use_count=Prompt.__table__.c.use_count + 1))
    db.session.commit()
    return event


def filled_text_for_use(user, usage_event_id) -> str | None:
    """The filled text of one of the user's own uses of a prompt; None for anyone else's or unknown ids."""
    try:
        event_id = usage_event_id if isinstance(usage_event_id, uuid.UUID) else uuid.UUID(str(usage_event_id))
    except (TypeError, ValueError, AttributeError):
        return None
    event = db.session.get(PromptUsageEvent, event_id)
    if event is None or user is None or event.user_id != getattr(user, "id", None):
        return None
    return event.filled_content


# --- moderation ----------------------------------------------------------------------------------

def may_review(actor, prompt: Prompt) -> bool:
    """Moderators review other people's prompts; only an admin may decide on their own."""
    if not can_moderate(actor):
        return False
    return prompt.user_id != actor.id or role_at_least(actor.role, "admin")


def moderate(actor, prompt_id: uuid.UUID, decision: str, reason: str | None, expected_version: int | None,
             origin: Origin) -> Prompt:
    """Approve or reject (with a reason) a pending prompt, as reviewed at `expected_version`;
    the decision goes to the audit log with before and after."""
    if not can_moderate(actor):
        raise Forbidden("Only moderators and admins review prompts.")
    if decision not in ("approve", "reject"):
        raise ValidationFailed("Approve or reject.")
    prompt = _load(prompt_id)
    if prompt is None or prompt.visibility != "public":
        raise NotFound("There is no such prompt.")
    if not may_review(actor, prompt):
        raise Forbidden("You wrote this prompt: another moderator reviews it.")
    if prompt.moderation_status != "pending":
        raise StalePrompt(prompt, "This prompt is no longer waiting for review.")
    if expected_version != prompt.version:
        raise StalePrompt(prompt, f"{STALE_MESSAGE} Review the new text.")
    reason = _clean(reason) or None
    if decision == "reject" and not reason:
        raise PromptInvalid("Say why, so the author can fix it.", "reason")
    if reason and len(reason) > MAX_REASON_CHARS:
        raise PromptInvalid(f"A reason has at most {MAX_REASON_CHARS:,} characters.", "reason")
    before = {"moderation_status": prompt.moderation_status, "version": prompt.version, "title": prompt.title}
    prompt.moderation_status = "approved" if decision == "approve" else "rejected"
    prompt.moderation_reason = reason
    prompt.moderated_by = actor.id
    prompt.moderated_at = utcnow()
    try:
        db.session.flush()
    except StaleDataError:
        raise StalePrompt(_reload_current(prompt_id), f"{STALE_MESSAGE} Review the new text.") from None
    after = {"moderation_status": prompt.moderation_status, "version": prompt.version, "reason": reason}
    if prompt.user_id == actor.id:
        after["own_prompt"] = True  # an admin reviewing their own prompt stands out in the log
    record_audit(actor.id, "prompt", prompt.id, decision, before=before, after=after,
                 ip_address=origin.ip_address, user_agent=origin.user_agent)
    db.session.commit()
    return prompt
