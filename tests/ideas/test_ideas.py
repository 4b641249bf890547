"""Submitting, editing and deleting ideas: validation keeps what was typed, only the author edits
while the idea is new, and nothing anybody writes runs as script."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.ideas.models import Idea, IdeaNote, IdeaVote
from tests.factories import make_user
from tests.helpers.markup import live_markup
from tests.ideas.factories import make_idea, make_note
from tests.ideas.helpers import XSS_PAYLOADS


def count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def submit(person, htmx=False, **fields):
    data = {"title": "Dark mode for exports", "description": "Exports are **too bright**.", "priority_level": "high"}
    data.update(fields)
    return person.post("/ideas/new", data, htmx=htmx)


def test_a_person_submits_an_idea_and_lands_on_its_page(login_as):
    person = login_as("user")
    assert "Submit idea" in person.get("/ideas/new").get_data(as_text=True)
    response = submit(person)
    assert response.status_code == 303
    idea = db.session.scalar(select(Idea))
    assert response.headers["Location"] == f"/ideas/{idea.id}"
    assert (idea.title, idea.status, idea.priority_level, idea.vote_count, idea.user_id) == (
        "Dark mode for exports", "new", "high", 0, person.user.id)
    assert idea.description_html == "<p>Exports are <strong>too bright</strong>.</p>\n"  # rendered once, stored
    assert idea.id.version == 7 and idea.created_at.tzinfo is not None
    page = person.get(response.headers["Location"]).get_data(as_text=True)
    assert "Dark mode for exports" in page and "<strong>too bright</strong>" in page
    assert "Idea submitted." in page


def test_submitting_through_htmx_navigates_with_hx_redirect(login_as):
    person = login_as("user")
    response = submit(person, htmx=True)
    idea = db.session.scalar(select(Idea))
    assert response.status_code == 204 and response.headers["HX-Redirect"] == f"/ideas/{idea.id}"


@pytest.mark.parametrize(("fields", "message", "kept"), [
    ({"title": "   "}, "Give your idea a title.", "Exports are **too bright**."),
    ({"title": "T" * 201}, "A title has at most 200 characters.", "T" * 201),
    ({"description": ""}, "Describe your idea", "Dark mode for exports"),
    ({"description": "D" * 10_001}, "A description has at most 10,000 characters.", "D" * 10_001),
    ({"priority_level": "urgent!!"}, "Choose a priority: low, medium or high.", "Dark mode for exports"),
])
@pytest.mark.parametrize("htmx", [False, True])
def test_invalid_fields_get_a_message_and_keep_what_was_typed(login_as, fields, message, kept, htmx):
    person = login_as("user")
    response = submit(person, htmx=htmx, **fields)
    html = response.get_data(as_text=True)
    assert response.status_code == 200  # htmx swaps 200s only
    assert message in html and kept in html
    assert 'aria-invalid="true"' in html or "urgent" in str(fields)
    assert ("<html" in html) is (not htmx)
    assert count(Idea) == 0


def test_strange_input_never_gives_a_500(login_as):
    person = login_as("user")
    assert submit(person, title="Nul\x00byte", description="a\x00b").status_code == 303
    assert db.session.scalar(select(Idea.title)) == "Nulbyte"
    assert person.post("/ideas/new", {}).status_code == 200
    assert person.post("/ideas/new", {"title": ["a", "b"], "priority_level": ""}).status_code == 200
    for path in ["/ideas/not-a-uuid", "/ideas/00000000-0000-7000-8000-000000000000",
                 "/ideas/00000000-0000-7000-8000-000000000000/edit"]:
        assert person.get(path).status_code == 404


def test_a_post_without_csrf_token_is_refused(login_as):
    person = login_as("user")
    response = person.client.post("/ideas/new", data={"title": "x", "description": "y", "priority_level": "low"})
    assert response.status_code == 400
    idea = make_idea()
    assert person.client.post(f"/ideas/{idea.id}/vote").status_code == 400
    assert person.client.post(f"/ideas/{idea.id}/notes", data={"content": "hi"}).status_code == 400
    assert count(Idea) == 1 and count(IdeaVote) == 0 and count(IdeaNote) == 0


def test_the_author_edits_their_new_idea(login_as):
    person = login_as("user")
    idea = make_idea(person.user, title="First words")
    form = person.get(f"/ideas/{idea.id}/edit").get_data(as_text=True)
    assert 'value="First words"' in form
    response = person.post(f"/ideas/{idea.id}/edit", {"title": "Better words", "description": "_now_",
                                                      "priority_level": "low"})
    assert response.status_code == 303
    db.session.refresh(idea)
    assert (idea.title, idea.description_html, idea.priority_level) == ("Better words", "<p><em>now</em></p>\n", "low")
    empty = person.post(f"/ideas/{idea.id}/edit", {"title": "", "description": "kept text", "priority_level": "low"})
    assert empty.status_code == 200 and "Give your idea a title." in empty.get_data(as_text=True)
    assert "kept text" in empty.get_data(as_text=True)


@pytest.mark.parametrize("role", ["user", "moderator", "admin"])
def test_nobody_but_the_author_edits_or_deletes_an_idea(login_as, role):
    idea = make_idea(title="Mine")
    other = login_as(role)
    assert other.get(f"/ideas/{idea.id}/edit").status_code == 403
    edit = other.post(f"/ideas/{idea.id}/edit", {"title": "Hijacked", "description": "x", "priority_level": "low"})
    assert edit.status_code == 403
    assert other.post(f"/ideas/{idea.id}/edit", {"title": ""}, htmx=True).status_code == 403
    assert other.post(f"/ideas/{idea.id}/delete").status_code == 403
    db.session.refresh(idea)
    assert idea.title == "Mine"
    page = other.get(f"/ideas/{idea.id}").get_data(as_text=True)
    assert f"/ideas/{idea.id}/edit" not in page and f"/ideas/{idea.id}/delete" not in page


@pytest.mark.parametrize("status", ["planned", "in_progress", "completed", "declined"])
def test_the_author_cannot_edit_or_delete_once_the_idea_is_triaged(login_as, status):
    person = login_as("user")
    idea = make_idea(person.user, title="Was new", status=status)
    refused = person.post(f"/ideas/{idea.id}/edit", {"title": "Changed", "description": "x", "priority_level": "low"})
    assert refused.status_code == 409 and "can no longer edit or delete it" in refused.get_data(as_text=True)
    assert person.get(f"/ideas/{idea.id}/edit").status_code == 409
    assert person.post(f"/ideas/{idea.id}/delete").status_code == 409
    db.session.refresh(idea)
    assert idea.title == "Was new"
    assert f"/ideas/{idea.id}/edit" not in person.get(f"/ideas/{idea.id}").get_data(as_text=True)


@pytest.mark.postgres
def test_the_author_deletes_a_new_idea_with_its_votes_and_notes(login_as):
    person = login_as("user")
    idea = make_idea(person.user, voters=[make_user(), make_user()])
    make_note(idea, make_user())
    idea_id = idea.id
    response = person.post(f"/ideas/{idea_id}/delete", htmx=True)
    assert response.status_code == 204 and response.headers["HX-Redirect"] == "/ideas"
    assert count(Idea) == count(IdeaVote) == count(IdeaNote) == 0
    assert person.get(f"/ideas/{idea_id}").status_code == 404


def test_script_in_titles_and_descriptions_is_inert_everywhere(login_as):
    person = login_as("moderator")
    ideas = [make_idea(person.user, title=payload[:200], description=payload) for payload in XSS_PAYLOADS]
    pages = {"board": person.get("/ideas").get_data(as_text=True),
             "search": person.get("/ideas?q=alert").get_data(as_text=True)}
    for idea in ideas:
        pages[f"idea {idea.title}"] = person.get(f"/ideas/{idea.id}").get_data(as_text=True)
        pages[f"edit {idea.title}"] = person.get(f"/ideas/{idea.id}/edit").get_data(as_text=True)
        pages[f"vote {idea.title}"] = person.post(f"/ideas/{idea.id}/vote", htmx=True).get_data(as_text=True)
    for name, html in pages.items():
        assert live_markup(html) == [], name
    # In the page title, in attributes and in the text, the payload is escaped text.
    show = pages[f"idea {ideas[1].title}"]
    assert "<title>&lt;img src=x onerror=alert(&#39;x2&#39;)&gt; · Studio</title>" in show
    assert "Vote for &lt;img src=x onerror=alert(&#39;x2&#39;)&gt; (</span>" in show
    assert 'hx-disable><p>&lt;img src=x onerror=alert(' in show  # rendered Markdown shows HTML as text


def test_signed_out_visitors_are_sent_to_sign_in(client):
    idea = make_idea()
    for path in ["/ideas", "/ideas/new", f"/ideas/{idea.id}"]:
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_after_an_error_the_field_to_fix_has_the_focus(login_as):
    person = login_as("user")
    assert re.search(r'<input autofocus[^>]*id="title"', person.get("/ideas/new").get_data(as_text=True))
    html = submit(person, htmx=True, description="").get_data(as_text=True)
    assert re.search(r'<textarea[^>]*autofocus[^>]*id="description"', html)
    assert not re.search(r'<input autofocus[^>]*id="title"', html)
