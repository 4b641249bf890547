"""Editing one's prompt, and optimistic locking: an edit made on an older version is refused with a
clear message, the person's text kept, never silently overwriting the newer one."""
from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.prompts import services
from app.prompts.models import Prompt, Tag
from tests.prompts.factories import make_prompt

pytestmark = pytest.mark.postgres  # optimistic locking under concurrent edits

EDIT = {"title": "Edited title", "content": "Edited {{ thing }}", "description": "", "tags": "a, b",
        "visibility": "private"}


def test_the_edit_form_is_filled_with_the_prompt_and_its_version(login_as):
    person = login_as("user")
    prompt = make_prompt(person.user, title="Original", tags=("one", "two"))
    html = person.get(f"/prompts/{prompt.id}/edit").get_data(as_text=True)
    assert 'value="Original"' in html and 'value="one, two"' in html
    assert 'id="version" name="version" type="hidden" value="1"' in html


def test_an_edit_saves_bumps_the_version_and_changes_tags(login_as):
    person = login_as("user")
    prompt = make_prompt(person.user, tags=("old",))
    response = person.post(f"/prompts/{prompt.id}/edit", {**EDIT, "version": "1"})
    assert response.status_code == 303
    db.session.refresh(prompt)
    assert prompt.title == "Edited title" and prompt.version == 2
    assert prompt.variables == [{"name": "thing", "default": None}]
    saved = db.session.scalar(select(Prompt).where(Prompt.id == prompt.id).options(selectinload(Prompt.tags)))
    assert [tag.name for tag in saved.tags] == ["a", "b"]


def test_changing_only_the_tags_is_an_edit_too(login_as):
    person = login_as("user")
    prompt = make_prompt(person.user, title="T", content="C", tags=("x",))
    person.post(f"/prompts/{prompt.id}/edit", {"title": "T", "content": "C", "tags": "x, y", "visibility": "private",
                                               "version": "1"})
    db.session.refresh(prompt)
    assert prompt.version == 2
    assert sorted(db.session.scalars(select(Tag.name))) == ["x", "y"]


def test_a_stale_edit_is_refused_and_the_text_typed_is_kept(login_as):
    person = login_as("user")
    prompt = make_prompt(person.user, title="Start")
    # Another tab saved first.
    other_tab = person.post(f"/prompts/{prompt.id}/edit", {**EDIT, "title": "From the other tab", "version": "1"})
    assert other_tab.status_code == 303
    response = person.post(f"/prompts/{prompt.id}/edit", {**EDIT, "title": "My careful rewrite",
                                                          "content": "My long text {{ x }}", "version": "1"})
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "This prompt changed since you opened it." in html
    assert 'value="My careful rewrite"' in html and "My long text {{ x }}" in html
    assert "The version saved now" in html and "From the other tab" in html
    assert 'name="version" type="hidden" value="2"' in html  # saving again replaces it knowingly
    db.session.refresh(prompt)
    assert prompt.title == "From the other tab" and prompt.version == 2
    again = person.post(f"/prompts/{prompt.id}/edit", {**EDIT, "title": "My careful rewrite", "version": "2"})
    assert again.status_code == 303
    db.session.refresh(prompt)
    assert prompt.title == "My careful rewrite" and prompt.version == 3


def test_a_missing_or_garbled_version_counts_as_stale(login_as):
    person = login_as("user")
    prompt = make_prompt(person.user, title="Start")
    for version in ["", "abc", "-1", "99999999999999"]:
        response = person.post(f"/prompts/{prompt.id}/edit", {**EDIT, "version": version})
        assert response.status_code == 409, version
    db.session.refresh(prompt)
    assert prompt.title == "Start"


def test_two_saves_racing_on_the_same_version_only_one_wins(app, login_as):
    """Both read version 1 and pass the check; the database's `WHERE version = 1` lets one through."""
    person = login_as("user")
    prompt = make_prompt(person.user, title="Start")
    author, prompt_id = SimpleNamespace(id=person.user.id), prompt.id  # no ORM objects shared across threads
    barrier = threading.Barrier(2, timeout=10)
    outcomes: list[str] = []
    real_clean = services._clean_input

    def clean_then_wait(data):
        result = real_clean(data)
        barrier.wait()  # both have read the prompt at version 1
        return result

    def save(title):
        with app.app_context():
            try:
                services.update_prompt(author, prompt_id, services.PromptInput(title=title, content="C"), 1)
                outcomes.append("saved")
            except services.StalePrompt as stale:
                outcomes.append(f"stale:{stale.current.version}")
            finally:
                db.session.remove()

    services._clean_input = clean_then_wait
    try:
        threads = [threading.Thread(target=save, args=(title,)) for title in ("First", "Second")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
    finally:
        services._clean_input = real_clean
    assert sorted(outcomes) == ["saved", "stale:2"]
    db.session.expire_all()
    assert db.session.get(Prompt, prompt_id).version == 2
