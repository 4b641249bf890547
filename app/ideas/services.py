"""Ideas rules: the board, submitting and editing, voting, notes, triage.
Services take the acting user and plain values; they never read the request."""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import defer, joinedload

from app.core.markdown import RENDERER_VERSION, render_markdown_safe
from app.core.pages import paginate
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.ideas.models import (
    CLOSED_STATUSES,
    MAX_DESCRIPTION_CHARS,
    MAX_NOTE_CHARS,
    MAX_TITLE_CHARS,
    PRIORITIES,
    STATUSES,
    Idea,
    IdeaNote,
    IdeaVote,
)
from app.models.base import escape_like, insert_ignoring_duplicates, new_uuid, utcnow
from app.security.audit import record_audit
from app.security.origin import Origin
from app.security.roles import role_at_least

PAGE_SIZE = 20
NOTES_PAGE_SIZE = 20
SORTS = {"votes": "Most votes", "newest": "Newest"}
MAX_QUERY_CHARS = 100
VOTE_ATTEMPTS = 8  # SQLite answers "database is locked" when writers pile up past its busy timeout


@dataclass(frozen=True)
class BoardFilters:
    """What the board shows, already cleaned: unknown values fall back to the defaults."""

    sort: str = "votes"
    status: str = ""
    query: str = ""
    page: int = 1

    @classmethod
    def from_args(cls, sort: str | None, status: str | None, query: str | None, page: int = 1) -> BoardFilters:
        return cls(
            sort=sort if sort in SORTS else "votes",
            status=status if status in STATUSES else "",
            query=_clean_line(query)[:MAX_QUERY_CHARS],
            page=max(1, page),
        )


@dataclass
class BoardPage:
    ideas: list[Idea]
    voted_ids: set[uuid.UUID]
    has_more: bool


def is_moderator(user) -> bool:
    return role_at_least(user.role, "moderator")


# --- text ----------------------------------------------------------------------------------------

def _clean_line(text: str | None) -> str:
    return (text or "").replace("\x00", "").strip()


def _clean_text(text: str | None, limit: int, what: str, *, required: bool = True) -> str:
    """Text without NUL bytes and outer blanks, within its limit (the forms say the same first)."""
    text = _clean_line(text)
    if required and not text:
        raise ValidationFailed(f"Write a {what} first.")
    if len(text) > limit:
        raise ValidationFailed(f"The {what} is too long: {len(text):,} characters, at most {limit:,}.")
    return text


# --- reading -------------------------------------------------------------------------------------

def get_idea(idea_id: uuid.UUID) -> Idea:
    """Any idea, with its author and completer loaded; every signed-in person may read the board."""
    idea = db.session.scalar(
        select(Idea).where(Idea.id == idea_id)
        .options(joinedload(Idea.author), joinedload(Idea.completed_by)))
    if idea is None:
        raise NotFound("There is no such idea.")
    return idea


def board_page(user, filters: BoardFilters) -> BoardPage:
    """One page of the board (authors loaded with it) and which of its ideas `user` voted for."""
    # Cards never show descriptions: they are not read (and reading one by accident raises).
    statement = select(Idea).options(joinedload(Idea.author), defer(Idea.description, raiseload=True),
                                     defer(Idea.description_html, raiseload=True))
    if filters.status:
        statement = statement.where(Idea.status == filters.status)
    if filters.query:
        pattern = f"%{escape_like(filters.query.lower())}%"
        statement = statement.where(or_(func.lower(Idea.title).like(pattern, escape="\\"),
                                        func.lower(Idea.description).like(pattern, escape="\\")))
    if filters.sort == "newest":
        statement = statement.order_by(Idea.created_at.desc(), Idea.id.desc())
    else:
        statement = statement.order_by(Idea.vote_count.desc(), Idea.id.desc())
    ideas, has_more = paginate(statement, filters.page, PAGE_SIZE)
    return BoardPage(ideas, voted_ids(user, [idea.id for idea in ideas]), has_more)


def voted_ids(user, idea_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these ideas `user` has voted for (one query)."""
    if not idea_ids:
        return set()
    return set(db.session.scalars(
        select(IdeaVote.idea_id).where(IdeaVote.user_id == user.id, IdeaVote.idea_id.in_(idea_ids))))


def has_voted(user, idea: Idea) -> bool:
    return bool(voted_ids(user, [idea.id]))


def notes_page(idea: Idea, page: int) -> tuple[list[IdeaNote], bool]:
    """A page of the discussion, oldest first, authors loaded; and whether more follow."""
    return paginate(
        select(IdeaNote).where(IdeaNote.idea_id == idea.id)
        .options(joinedload(IdeaNote.author), defer(IdeaNote.content, raiseload=True))
        .order_by(IdeaNote.id), page, NOTES_PAGE_SIZE)


def get_note_in(idea: Idea, note_id: uuid.UUID) -> IdeaNote:
    note = db.session.scalar(
        select(IdeaNote).where(IdeaNote.id == note_id).options(joinedload(IdeaNote.author)))
    if note is None or note.idea_id != idea.id:
        raise NotFound("There is no such note on this idea.")
    return note


def can_delete_note(user, note: IdeaNote) -> bool:
    return note.user_id == user.id or is_moderator(user)


def can_edit_idea(user, idea: Idea) -> bool:
    return idea.user_id == user.id and idea.is_editable


# --- ideas ---------------------------------------------------------------------------------------

def _check_priority(priority_level: str) -> str:
    if priority_level not in PRIORITIES:
        raise ValidationFailed("Choose a priority: low, medium or high.")
    return priority_level


def _set_text(idea: Idea, title: str, description: str) -> None:
    idea.title = _clean_text(title, MAX_TITLE_CHARS, "title")
    idea.description = _clean_text(description, MAX_DESCRIPTION_CHARS, "description")
    # Rendered and sanitised once, here; pages show the stored HTML.
    idea.description_html = render_markdown_safe(idea.description)
    idea.renderer_version = RENDERER_VERSION


def submit_idea(user, title: str, description: str, priority_level: str) -> Idea:
    """A new idea by `user`, status new, no votes yet."""
    idea = Idea(user_id=user.id, priority_level=_check_priority(priority_level), status="new")
    _set_text(idea, title, description)
    db.session.add(idea)
    db.session.commit()
    return idea


def require_editable_by(user, idea: Idea) -> None:
    """Only the author, and only while the idea is new: others get Forbidden, a late author Conflict."""
    if idea.user_id != user.id:
        raise Forbidden("Only the author of an idea may edit or delete it.")
    if not idea.is_editable:
        raise Conflict(f"This idea is {idea.status_label.lower()} now: its author can no longer edit or delete it.")


def edit_idea(user, idea: Idea, title: str, description: str, priority_level: str) -> Idea:
    """The author changes their idea while it is still new."""
    require_editable_by(user, idea)
    _set_text(idea, title, description)
    idea.priority_level = _check_priority(priority_level)
    db.session.commit()
    return idea


def delete_idea(user, idea: Idea) -> None:
    """The author deletes their idea while it is still new (its votes and notes go with it)."""
    require_editable_by(user, idea)
    db.session.execute(delete(Idea).where(Idea.id == idea.id))
    db.session.commit()


def triage(user, idea: Idea, status: str, priority_level: str, origin: Origin) -> bool:
    """A moderator sets status and priority; completing records who and when. Every change is
    audited with before and after. Returns False when nothing changed."""
    if not is_moderator(user):
        raise Forbidden("Only moderators and admins triage ideas.")
    if status not in STATUSES:
        raise ValidationFailed("Choose one of the listed statuses.")
    _check_priority(priority_level)
    before = _triage_state(idea)
    if status == "completed" and idea.status != "completed":
        idea.completed_at, idea.completed_by_id = utcnow(), user.id
    elif status != "completed":
        idea.completed_at, idea.completed_by_id = None, None
    idea.status, idea.priority_level = status, priority_level
    after = _triage_state(idea)
    if after == before:
        db.session.rollback()
        return False
    record_audit(user.id, "idea", idea.id, "triage", before=before, after=after,
                 ip_address=origin.ip_address, user_agent=origin.user_agent)
    db.session.commit()
    return True


def _triage_state(idea: Idea) -> dict:
    return {
        "status": idea.status,
        "priority_level": idea.priority_level,
        "completed_at": idea.completed_at.isoformat() if idea.completed_at else None,
        "completed_by": str(idea.completed_by_id) if idea.completed_by_id else None,
    }


# --- votes ---------------------------------------------------------------------------------------

def _insert_vote_if_absent(idea_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """INSERT … ON CONFLICT DO NOTHING on the unique (idea_id, user_id): True if the row is new.
    The constraint decides, not an earlier read, and no savepoint is needed to recover."""
    statement = (insert_ignoring_duplicates(IdeaVote, index_elements=["idea_id", "user_id"])
                 .values(id=new_uuid(), idea_id=idea_id, user_id=user_id, created_at=utcnow()).returning(IdeaVote.id))
    return db.session.execute(statement).first() is not None


def _toggle_once(user, idea_id: uuid.UUID) -> tuple[int, bool]:
    # PostgreSQL: lock the idea row, so every vote change of this idea (two clicks of one person
    # included) runs one after the other. SQLite has one writer at a time anyway.
    status = db.session.scalar(select(Idea.status).where(Idea.id == idea_id).with_for_update())
    if status is None:
        raise NotFound("There is no such idea.")
    if status in CLOSED_STATUSES:
        raise Conflict(f"Voting is closed: this idea is {STATUSES[status].lower()}.")
    is_voted = _insert_vote_if_absent(idea_id, user.id)
    if not is_voted:
        db.session.execute(delete(IdeaVote).where(IdeaVote.idea_id == idea_id, IdeaVote.user_id == user.id))
    # The count is recomputed from the rows inside the same transaction: exact, and self-healing.
    count_rows = select(func.count()).select_from(IdeaVote).where(IdeaVote.idea_id == idea_id).scalar_subquery()
    updated = db.session.execute(
        update(Idea).where(Idea.id == idea_id, Idea.status.not_in(sorted(CLOSED_STATUSES)))
        .values(vote_count=count_rows).returning(Idea.vote_count)
        .execution_options(synchronize_session=False)).scalar()
    if updated is None:  # closed between the read and the write (SQLite does not lock the read)
        db.session.rollback()
        raise Conflict("Voting on this idea has just closed.")
    db.session.commit()
    return updated, is_voted


def toggle_vote(user, idea_id: uuid.UUID) -> tuple[int, bool]:
    """Add the person's vote, or take it back if they had voted; returns (vote count, has voted).
    One transaction; the stored count equals the number of vote rows when it commits."""
    for attempt in range(VOTE_ATTEMPTS):
        try:
            return _toggle_once(user, idea_id)
        except IntegrityError:
            db.session.rollback()  # the idea was deleted under us (foreign key)
            raise NotFound("There is no such idea.") from None
        except OperationalError as error:
            db.session.rollback()
            if not _is_transient(error) or attempt == VOTE_ATTEMPTS - 1:
                raise
            time.sleep(0.02 * (attempt + 1))
    raise AssertionError("unreachable")


def _is_transient(error: OperationalError) -> bool:
    text = str(error.orig).lower()
    return "database is locked" in text or "deadlock detected" in text or "could not serialize" in text


# --- notes ---------------------------------------------------------------------------------------

def add_note(user, idea: Idea, content: str) -> IdeaNote:
    """A note by `user` under the idea; the idea's note count goes up in the same transaction."""
    content = _clean_text(content, MAX_NOTE_CHARS, "note")
    note = IdeaNote(idea_id=idea.id, user_id=user.id, content=content,
                    content_html=render_markdown_safe(content), renderer_version=RENDERER_VERSION)
    db.session.add(note)
    db.session.execute(update(Idea).where(Idea.id == idea.id).values(note_count=Idea.note_count + 1))
    db.session.commit()
    return note


def delete_note(user, idea: Idea, note: IdeaNote, origin: Origin) -> None:
    """Its author deletes a note, or a moderator deletes any (audited, with the text it had)."""
    if not can_delete_note(user, note):
        raise Forbidden("You can delete only your own notes.")
    if is_moderator(user):
        record_audit(user.id, "idea_note", note.id, "delete",
                     before={"idea_id": str(idea.id), "author_id": str(note.user_id) if note.user_id else None,
                             "content": note.content},
                     ip_address=origin.ip_address, user_agent=origin.user_agent)
    deleted = db.session.execute(delete(IdeaNote).where(IdeaNote.id == note.id)).rowcount
    if deleted:
        db.session.execute(update(Idea).where(Idea.id == idea.id).values(note_count=Idea.note_count - deleted))
    db.session.commit()


def refreshed_counts(idea_id: uuid.UUID) -> tuple[int, int]:
    """The idea's stored (vote count, note count) as committed now."""
    row = db.session.execute(select(Idea.vote_count, Idea.note_count).where(Idea.id == idea_id)).one_or_none()
    if row is None:
        raise NotFound("There is no such idea.")
    return row[0], row[1]
