"""The library: writing prompts with tags, the Mine and Public tabs, search, tag filter, sort, pages,
counters, soft delete, saving a chat message as a prompt."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.chat.models import Message
from app.extensions import db
from app.prompts.models import Prompt, PromptView, Tag
from tests.conftest import count_queries
from tests.factories import make_conversation, make_user
from tests.prompts.factories import make_prompt

pytestmark = pytest.mark.postgres  # search, tag filters, sorting, paging and counters

VALID = {"title": "Cold e-mail", "description": "Reach out politely.", "tags": "Writing, e-mail , writing",
         "content": "Write to {{ name }} about {{ topic = our product }}.", "visibility": "private"}


def only_prompt() -> Prompt:
    return db.session.scalar(select(Prompt))


def titles(html: str) -> list[str]:
    return re.findall(r'class="prompt-card-title"><a href="[^"]+">([^<]+)</a>', html)


def test_a_person_writes_a_private_prompt_with_tags_and_variables(login_as):
    person = login_as("user")
    response = person.post("/prompts/new", VALID)
    assert response.status_code == 303
    prompt = only_prompt()
    assert response.headers["Location"].endswith(f"/prompts/{prompt.id}")
    assert prompt.user_id == person.user.id and prompt.version == 1
    assert (prompt.visibility, prompt.moderation_status) == ("private", "none")
    assert prompt.variables == [{"name": "name", "default": None}, {"name": "topic", "default": "our product"}]
    assert sorted(db.session.scalars(select(Tag.name))) == ["e-mail", "writing"]
    page = person.get(f"/prompts/{prompt.id}").get_data(as_text=True)
    assert "Cold e-mail" in page and "our product" in page and 'class="prompt-variable"' in page
    assert "Private" in page


def test_the_form_explains_the_variable_syntax(login_as):
    page = login_as("user").get("/prompts/new").get_data(as_text=True)
    assert "{{ topic }}" in page and "{{ tone = friendly }}" in page and "first_name" in page


def test_bad_input_is_shown_beside_the_field_and_nothing_typed_is_lost(login_as):
    person = login_as("user")
    response = person.post("/prompts/new", {**VALID, "title": "", "content": "Hello {{ first name }}, from me"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Give the prompt a title." in page and "cannot contain spaces" in page
    assert "Hello {{ first name }}, from me" in page and "Reach out politely." in page
    assert db.session.scalar(select(func.count(Prompt.id))) == 0


def test_limits_are_enforced_with_a_message(login_as):
    person = login_as("user")
    cases = {"title": ("x" * 201, "at most 200"), "content": ("x" * 32_001, "at most 32,000"),
             "tags": (",".join(f"t{i}" for i in range(11)), "At most 10 tags"),
             "visibility": ("everyone", "Not a valid choice")}
    for name, (value, message) in cases.items():
        response = person.post("/prompts/new", {**VALID, name: value})
        assert response.status_code == 200 and message in response.get_data(as_text=True), name
    assert db.session.scalar(select(func.count(Prompt.id))) == 0


def test_mine_lists_own_prompts_and_public_lists_approved_ones(login_as):
    person = login_as("user")
    other = make_user()
    make_prompt(person.user, title="My draft")
    make_prompt(person.user, title="My pending", status="pending")
    make_prompt(other, title="Their approved", status="approved")
    make_prompt(other, title="Their private")
    make_prompt(other, title="Their pending", status="pending")
    make_prompt(other, title="Their rejected", status="rejected")
    mine = person.get("/prompts").get_data(as_text=True)
    assert sorted(titles(mine)) == ["My draft", "My pending"]
    public = person.get("/prompts?tab=public").get_data(as_text=True)
    assert titles(public) == ["Their approved"]
    assert "Their private" not in public and "Their pending" not in public and "Their rejected" not in public


def test_search_matches_title_description_and_text(login_as):
    person = login_as("user")
    make_prompt(person.user, title="Haiku maker")
    make_prompt(person.user, title="Other", description="Turns notes into a HAIKU")
    make_prompt(person.user, title="Third", content="Write a haiku about {{ topic }}")
    make_prompt(person.user, title="Unrelated", content="Summarise {{ text }}")
    html = person.get("/prompts?q=haiku").get_data(as_text=True)
    assert sorted(titles(html)) == ["Haiku maker", "Other", "Third"]
    assert titles(person.get("/prompts?q=100%25").get_data(as_text=True)) == []  # LIKE wildcards are literal


def test_tag_filter_needs_every_tag_given(login_as):
    person = login_as("user")
    other = make_user()
    make_prompt(other, title="Both", tags=("writing", "email"), status="approved")
    make_prompt(other, title="Writing only", tags=("writing",), status="approved")
    make_prompt(other, title="Email only", tags=("email",), status="approved")
    make_prompt(other, title="Private both", tags=("writing", "email"))
    writing = titles(person.get("/prompts?tab=public&tags=writing").get_data(as_text=True))
    assert sorted(writing) == ["Both", "Writing only"]
    assert titles(person.get("/prompts?tab=public&tags=Writing,%20EMAIL").get_data(as_text=True)) == ["Both"]
    assert titles(person.get("/prompts?tab=public&tags=nothing-like-it").get_data(as_text=True)) == []


def test_sort_by_popular_or_newest(login_as):
    person = login_as("user")
    make_prompt(person.user, title="Old favourite", age_minutes=30, use_count=9)
    make_prompt(person.user, title="Newest", age_minutes=1, use_count=0)
    make_prompt(person.user, title="Middle", age_minutes=10, use_count=3)
    assert titles(person.get("/prompts").get_data(as_text=True)) == ["Newest", "Middle", "Old favourite"]
    assert titles(person.get("/prompts?sort=popular").get_data(as_text=True)) == ["Old favourite", "Middle", "Newest"]


def test_the_list_is_paged_by_twenty(login_as):
    person = login_as("user")
    for number in range(23):
        make_prompt(person.user, title=f"Prompt number {number:02}", age_minutes=number)
    first = person.get("/prompts").get_data(as_text=True)
    assert len(titles(first)) == 20 and "Prompt number 00" in first and "page=2" in first
    second = person.get("/prompts?page=2").get_data(as_text=True)
    assert titles(second) == ["Prompt number 20", "Prompt number 21", "Prompt number 22"]
    assert person.get("/prompts?page=abc").status_code == 200


def test_active_search_answers_only_the_results_fragment(login_as):
    person = login_as("user")
    make_prompt(person.user, title="Findable")
    response = person.get("/prompts?q=find", headers={"HX-Request": "true", "HX-Target": "prompt-results"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Findable" in html and "<html" not in html
    assert "HX-Request" in response.headers.get("Vary", "")
    boosted = person.get("/prompts?q=find", headers={"HX-Request": "true", "HX-Boosted": "true",
                                                      "HX-Target": "prompt-results"})
    assert "<html" in boosted.get_data(as_text=True)


def test_the_library_runs_the_same_number_of_queries_however_many_prompts(app, login_as):
    person = login_as("user")

    def add(count, start):
        for number in range(start, start + count):
            author = make_user()
            make_prompt(author, title=f"P{number}", tags=(f"tag{number}", "shared"), status="approved")
            make_prompt(person.user, title=f"M{number}", tags=(f"mine{number}",))

    add(2, 0)
    person.get("/prompts")  # this process has read the navigation (kept until it changes)
    with count_queries(app) as few:
        assert person.get("/prompts?tab=public").status_code == 200
        assert person.get("/prompts").status_code == 200
    add(18, 2)
    with count_queries(app) as many:
        public = person.get("/prompts?tab=public")
        assert person.get("/prompts").status_code == 200
    assert len(titles(public.get_data(as_text=True))) == 20
    assert len(many) == len(few), many


def test_a_view_counts_once_per_viewer_per_day_and_not_for_the_author(login_as):
    author = login_as("user")
    prompt = make_prompt(author.user, status="approved")
    reader, other_reader = login_as("user"), login_as("user")
    for client in (reader, reader, other_reader, author, author):
        assert client.get(f"/prompts/{prompt.id}").status_code == 200
    db.session.refresh(prompt)
    assert prompt.view_count == 2 and prompt.version == 1  # a counter is not an edit
    assert db.session.scalar(select(func.count()).select_from(PromptView)) == 2


def test_views_of_a_prompt_not_yet_published_are_not_counted(login_as):
    author = login_as("user")
    prompt = make_prompt(author.user, status="pending")
    login_as("moderator").get(f"/prompts/{prompt.id}")
    db.session.refresh(prompt)
    assert prompt.view_count == 0


def test_a_deleted_prompt_leaves_every_list_and_link(login_as):
    author = login_as("user")
    prompt = make_prompt(author.user, title="Doomed prompt", tags=("gone",), status="approved")
    response = author.post(f"/prompts/{prompt.id}/delete", htmx=True)
    assert response.status_code == 204 and response.headers["HX-Redirect"] == "/prompts"
    db.session.refresh(prompt)
    assert prompt.deleted_at is not None
    reader = login_as("moderator")
    for client in (author, reader):
        for path in ["/prompts", "/prompts?tab=public", "/prompts?tab=public&tags=gone", "/prompts?q=doomed",
                     "/moderation/prompts" if client is reader else "/prompts"]:
            assert "Doomed prompt" not in client.get(path).get_data(as_text=True), path
        for path in [f"/prompts/{prompt.id}", f"/prompts/{prompt.id}/use"]:
            assert client.get(path).status_code == 404
    assert author.get(f"/prompts/{prompt.id}/edit").status_code == 404
    assert author.post(f"/prompts/{prompt.id}/use").status_code == 404
    assert "gone" not in reader.get("/prompts/tags?tags=go").get_data(as_text=True)


def test_plain_delete_redirects_to_the_library(login_as):
    author = login_as("user")
    prompt = make_prompt(author.user)
    response = author.post(f"/prompts/{prompt.id}/delete")
    assert response.status_code == 303 and response.headers["Location"] == "/prompts"


def test_tag_autocomplete_completes_the_last_tag_from_visible_prompts_only(login_as):
    person = login_as("user")
    other = make_user()
    make_prompt(other, tags=("writing", "wrestling"), status="approved")
    make_prompt(other, tags=("wr-secret-project",))  # private: its tags are nobody else's business
    make_prompt(person.user, tags=("writing-mine",))
    html = person.get("/prompts/tags?tags=email, WR").get_data(as_text=True)
    options = re.findall(r'<option value="([^"]*)"', html)
    assert sorted(options) == ["email, wrestling", "email, writing", "email, writing-mine"]
    assert "secret" not in html


def test_save_a_chat_message_as_a_prompt_keeps_its_source(login_as):
    person = login_as("user")
    conversation = make_conversation(person.user, messages=2)
    message_id = db.session.scalar(select(Message.id).where(Message.conversation_id == conversation.id)
                                   .order_by(Message.id.desc()).limit(1))
    page = person.get(f"/prompts/new?from_message={message_id}").get_data(as_text=True)
    assert "Message 1 from the assistant" in page and f'value="{message_id}"' in page
    response = person.post("/prompts/new", {**VALID, "content": "Message 1 from the assistant",
                                            "from_message": str(message_id)})
    assert response.status_code == 303
    prompt = only_prompt()
    assert prompt.source_message_id == message_id and prompt.source_conversation_id == conversation.id
    assert prompt.visibility == "private"
    assert f"/chat/{conversation.id}" in person.get(f"/prompts/{prompt.id}").get_data(as_text=True)


def test_another_persons_message_cannot_be_saved_as_a_prompt(login_as):
    owner = login_as("user")
    conversation = make_conversation(owner.user, messages=2)
    message_id = db.session.scalar(select(Message.id).where(Message.conversation_id == conversation.id).limit(1))
    intruder = login_as("user")
    assert intruder.get(f"/prompts/new?from_message={message_id}").status_code == 404
    assert intruder.get("/prompts/new?from_message=not-a-uuid").status_code == 404
    response = intruder.post("/prompts/new", {**VALID, "from_message": str(message_id)})
    assert response.status_code == 404
    assert db.session.scalar(select(func.count(Prompt.id))) == 0
