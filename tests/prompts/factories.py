"""Prompts for tests, written directly so each test states only what matters to it."""
from __future__ import annotations

import itertools
from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.models.base import utcnow
from app.prompts.models import Prompt, Tag
from app.prompts.variables import parse_variables

_numbers = itertools.count(1)
STATUS = {"private": ("private", "none"), "pending": ("public", "pending"),
          "approved": ("public", "approved"), "rejected": ("public", "rejected")}


def make_tag(name: str) -> Tag:
    tag = db.session.scalar(select(Tag).where(Tag.name == name))
    if tag is None:
        tag = Tag(name=name)
        db.session.add(tag)
        db.session.flush()
    return tag


def make_prompt(user, *, title: str | None = None, content: str = "Write about {{ topic }}.",
                description: str | None = None, tags: tuple[str, ...] = (), status: str = "private",
                deleted: bool = False, age_minutes: int = 0, reason: str | None = None, **fields) -> Prompt:
    """A committed prompt of `user`; `status` is private, pending, approved or rejected."""
    visibility, moderation_status = STATUS[status]
    created = utcnow() - timedelta(minutes=age_minutes)
    prompt = Prompt(
        user_id=user.id, title=title or f"Prompt {next(_numbers)}", content=content, description=description,
        variables=[v.as_json() for v in parse_variables(content)], visibility=visibility,
        moderation_status=moderation_status, moderation_reason=reason, created_at=created, updated_at=created,
        submitted_at=created if visibility == "public" else None, deleted_at=utcnow() if deleted else None, **fields)
    prompt.tags = [make_tag(name) for name in tags]
    db.session.add(prompt)
    db.session.commit()
    return prompt
