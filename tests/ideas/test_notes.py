"""Notes: a discussion under each idea. Anyone signed in adds one; people delete their own;
moderators delete any, and that is audited."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.ideas.models import Idea, IdeaNote
from app.security.audit import AuditLog
from tests.factories import make_user
from tests.helpers.markup import live_markup
from tests.ideas.factories import make_idea, make_note
from tests.ideas.helpers import XSS_PAYLOADS


def note_count(idea) -> tuple[int, int]:
    """(stored count, rows)."""
    db.session.expire_all()
    rows = db.session.scalar(select(func.count()).select_from(IdeaNote).where(IdeaNote.idea_id == idea.id))
    return db.session.scalar(select(Idea.note_count).where(Idea.id == idea.id)), rows


@pytest.mark.postgres
def test_a_note_is_rendered_once_and_counted(login_as):
    person = login_as("user")
    idea = make_idea()
    response = person.post(f"/ideas/{idea.id}/notes", {"content": "Yes, **please**.\n\n- and lists"})
    note = db.session.scalar(select(IdeaNote))
    assert response.status_code == 303 and response.headers["Location"] == f"/ideas/{idea.id}#note-{note.id}"
    assert note.content_html == "<p>Yes, <strong>please</strong>.</p>\n<ul>\n<li>and lists</li>\n</ul>\n"
    assert note.user_id == person.user.id and note.id.version == 7
    assert note_count(idea) == (1, 1)
    page = person.get(f"/ideas/{idea.id}").get_data(as_text=True)
    assert 'hx-disable><p>Yes, <strong>please</strong>.</p>' in page and 'id="note-count">1</span>' in page


def test_adding_a_note_with_htmx_appends_it_and_clears_the_form(login_as):
    person = login_as("user")
    idea = make_idea()
    make_note(idea, make_user())
    response = person.post(f"/ideas/{idea.id}/notes", {"content": "Appended"}, htmx=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith('<li id="note-') and "Appended" in html
    assert re.search(r'<form id="note-form"[^>]*hx-swap-oob="true"', html)
    assert re.search(r'<textarea[^>]*>\s*</textarea>', html)  # emptied
    assert '<span id="note-count" hx-swap-oob="true">2</span>' in html
    assert json.loads(response.headers["HX-Trigger"])["toast"]["message"] == "Note added."


@pytest.mark.parametrize(("content", "message"), [
    ("   ", "Write a note first."),
    ("N" * 5001, "A note has at most 5,000 characters."),
])
def test_an_empty_or_oversized_note_gets_a_message_and_keeps_the_text(login_as, content, message):
    person = login_as("user")
    idea = make_idea()
    response = person.post(f"/ideas/{idea.id}/notes", {"content": content}, htmx=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and message in html
    assert response.headers["HX-Retarget"] == "#note-form" and response.headers["HX-Reswap"] == "outerHTML"
    assert content.strip() in html
    plain = person.post(f"/ideas/{idea.id}/notes", {"content": content}).get_data(as_text=True)
    assert message in plain and "<html" in plain
    assert note_count(idea) == (0, 0)


def test_people_delete_their_own_notes(login_as):
    person = login_as("user")
    idea = make_idea()
    note = make_note(idea, person.user)
    assert "Delete the note by" in person.get(f"/ideas/{idea.id}").get_data(as_text=True)
    response = person.post(f"/ideas/{idea.id}/notes/{note.id}/delete", htmx=True)
    assert response.status_code == 200
    assert '<span id="note-count" hx-swap-oob="true">0</span>' in response.get_data(as_text=True)
    assert note_count(idea) == (0, 0)
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.entity_type == "idea_note")) == 0


def test_nobody_deletes_another_persons_note(login_as):
    idea = make_idea()
    note = make_note(idea, make_user(), "Not yours")
    other = login_as("user")
    assert "Delete the note by" not in other.get(f"/ideas/{idea.id}").get_data(as_text=True)
    assert other.post(f"/ideas/{idea.id}/notes/{note.id}/delete").status_code == 403
    assert other.post(f"/ideas/{idea.id}/notes/{note.id}/delete", htmx=True).status_code == 403
    assert note_count(idea) == (1, 1)


def test_a_note_is_reached_only_through_its_own_idea(login_as):
    person = login_as("moderator")
    idea, other_idea = make_idea(), make_idea()
    note = make_note(idea, person.user)
    assert person.post(f"/ideas/{other_idea.id}/notes/{note.id}/delete").status_code == 404
    missing = "00000000-0000-7000-8000-000000000000"
    assert person.post(f"/ideas/{idea.id}/notes/{missing}/delete").status_code == 404
    assert person.post(f"/ideas/{missing}/notes", {"content": "x"}).status_code == 404
    assert note_count(idea) == (1, 1) and note_count(other_idea) == (0, 0)


@pytest.mark.postgres
@pytest.mark.parametrize("role", ["moderator", "admin"])
def test_moderators_delete_any_note_and_it_is_audited(login_as, role):
    author = make_user()
    idea = make_idea()
    note_id = make_note(idea, author, "Spam, spam, spam").id
    moderator = login_as(role)
    assert "Delete the note by" in moderator.get(f"/ideas/{idea.id}").get_data(as_text=True)
    response = moderator.post(f"/ideas/{idea.id}/notes/{note_id}/delete", headers={"User-Agent": "ModTool/1"})
    assert response.status_code == 303
    assert note_count(idea) == (0, 0)
    entry = db.session.scalar(select(AuditLog).where(AuditLog.entity_type == "idea_note"))
    assert (entry.user_id, entry.entity_id, entry.action) == (moderator.user.id, str(note_id), "delete")
    assert entry.changes["before"] == {"idea_id": str(idea.id), "author_id": str(author.id),
                                       "content": "Spam, spam, spam"}
    assert entry.user_agent == "ModTool/1" and entry.ip_address


def test_script_in_notes_is_inert(login_as):
    person = login_as("moderator")
    idea = make_idea()
    for payload in XSS_PAYLOADS:
        appended = person.post(f"/ideas/{idea.id}/notes", {"content": payload}, htmx=True).get_data(as_text=True)
        assert live_markup(appended) == [], payload
    page = person.get(f"/ideas/{idea.id}").get_data(as_text=True)
    assert live_markup(page) == []
    assert page.count('class="markdown note-body" hx-disable>') == len(XSS_PAYLOADS)
    assert "<p>&lt;script&gt;alert('x1')&lt;/script&gt;</p>" in page
