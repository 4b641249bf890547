"""Factories for the ideas board: ideas with votes and notes, written directly."""
from __future__ import annotations

import itertools
from datetime import timedelta

from app.core.markdown import RENDERER_VERSION, render_markdown_safe
from app.extensions import db
from app.ideas.models import Idea, IdeaNote, IdeaVote
from app.models.base import utcnow
from tests.factories import make_user

_numbers = itertools.count(1)


def make_idea(author=None, *, title: str | None = None, description: str = "It would help a lot.",
              status: str = "new", priority_level: str = "medium", voters=(), notes: int = 0,
              age_minutes: int = 0, completed_by=None, note_authors=()):
    """A committed idea; `voters` each vote once; `notes` notes by `note_authors` in turn (else the author)."""
    author = author or make_user()
    idea = Idea(user_id=author.id, title=title or f"Idea {next(_numbers)}", description=description,
                description_html=render_markdown_safe(description), renderer_version=RENDERER_VERSION,
                status=status, priority_level=priority_level,
                created_at=utcnow() - timedelta(minutes=age_minutes))
    if status == "completed":
        idea.completed_at, idea.completed_by_id = utcnow(), (completed_by or author).id
    db.session.add(idea)
    db.session.flush()
    for voter in voters:
        db.session.add(IdeaVote(idea_id=idea.id, user_id=voter.id))
    idea.vote_count = len(voters)
    note_authors = list(note_authors) or [author]
    for number in range(notes):
        make_note(idea, note_authors[number % len(note_authors)], f"Note {number}", commit=False)
    db.session.commit()
    return idea


def make_note(idea, author, content: str = "I agree.", *, commit: bool = True):
    """A note under `idea` by `author`, counted on the idea."""
    note = IdeaNote(idea_id=idea.id, user_id=author.id, content=content,
                    content_html=render_markdown_safe(content), renderer_version=RENDERER_VERSION)
    db.session.add(note)
    idea.note_count = (idea.note_count or 0) + 1
    if commit:
        db.session.commit()
    return note
