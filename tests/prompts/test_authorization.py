"""Another person's private, pending or rejected prompt answers 404 on every route; their prompts cannot
be edited or deleted; CSRF is required; a signed-out visitor is sent to sign in."""
from __future__ import annotations

import re
import uuid

import pytest

from app.extensions import db
from tests.prompts.factories import make_prompt

FORM = {"title": "hijacked", "content": "hijacked {{ x }}", "visibility": "public", "version": "1", "var_0": "v",
        "reason": "because"}


def prompt_routes(app):
    """Every /prompts rule that names a prompt, so a new one cannot be forgotten here."""
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/prompts/<uuid:prompt_id>"):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield method, rule.rule


@pytest.mark.parametrize("status", ["private", "pending", "rejected"])
def test_every_prompt_route_answers_404_for_another_users_unpublished_prompt(app, login_as, status):
    owner = login_as("user")
    prompt = make_prompt(owner.user, title="Owner secret plan", content="secret {{ x }}", status=status)
    intruder = login_as("user")
    routes = list(prompt_routes(app))
    assert len(routes) >= 6
    for method, rule in routes:
        url = rule.replace("<uuid:prompt_id>", str(prompt.id))
        response = intruder.get(url) if method == "GET" else intruder.post(url, FORM)
        assert response.status_code == 404, (method, url, response.status_code)
        assert "Owner secret plan" not in response.get_data(as_text=True)
    db.session.refresh(prompt)
    assert prompt.title == "Owner secret plan" and prompt.deleted_at is None and prompt.use_count == 0


def test_a_published_prompt_of_another_user_is_readable_and_usable_but_not_editable(login_as):
    owner = login_as("user")
    prompt = make_prompt(owner.user, title="Shared", status="approved")
    reader = login_as("user")
    assert reader.get(f"/prompts/{prompt.id}").status_code == 200
    assert reader.get(f"/prompts/{prompt.id}/use").status_code == 200
    for method, path in [("GET", "edit"), ("POST", "edit"), ("POST", "delete")]:
        url = f"/prompts/{prompt.id}/{path}"
        response = reader.get(url) if method == "GET" else reader.post(url, FORM)
        assert response.status_code == 404, url
    page = reader.get(f"/prompts/{prompt.id}").get_data(as_text=True)
    assert "/edit" not in page and "/delete" not in page
    db.session.refresh(prompt)
    assert prompt.title == "Shared" and prompt.deleted_at is None


def test_admins_do_not_see_other_peoples_private_prompts(login_as):
    prompt = make_prompt(login_as("user").user, status="private")
    for role in ("moderator", "admin"):
        assert login_as(role).get(f"/prompts/{prompt.id}").status_code == 404


def test_moderators_can_open_a_submitted_prompt(login_as):
    prompt = make_prompt(login_as("user").user, status="pending")
    html = login_as("moderator").get(f"/prompts/{prompt.id}").get_data(as_text=True)
    assert "you see it as a moderator" in html


def test_unknown_ids_answer_404(login_as):
    person = login_as("user")
    for path in ["/prompts/not-a-uuid", f"/prompts/{uuid.uuid4()}", f"/prompts/{uuid.uuid4()}/edit",
                 f"/prompts/{uuid.uuid4()}/use"]:
        assert person.get(path).status_code == 404, path


def test_posts_without_csrf_are_refused(login_as):
    person = login_as("user")
    prompt = make_prompt(person.user, title="Kept")
    client = person.client
    for path in ["/prompts/new", f"/prompts/{prompt.id}/edit", f"/prompts/{prompt.id}/delete",
                 f"/prompts/{prompt.id}/use"]:
        assert client.post(path, data={**FORM, "version": "1"}).status_code == 400, path
    moderator = login_as("moderator")
    pending = make_prompt(person.user, status="pending")
    assert moderator.client.post(f"/moderation/prompts/{pending.id}/approve", data={"version": "1"}).status_code == 400
    db.session.refresh(prompt)
    db.session.refresh(pending)
    assert prompt.title == "Kept" and prompt.deleted_at is None and pending.moderation_status == "pending"


def test_signed_out_visitors_are_sent_to_sign_in(client):
    prompt_id = uuid.uuid4()
    for path in ["/prompts", "/prompts/new", f"/prompts/{prompt_id}", "/prompts/tags", "/moderation/prompts"]:
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


@pytest.mark.postgres
def test_other_peoples_private_prompts_never_show_in_search_or_lists(login_as):
    owner = login_as("user")
    make_prompt(owner.user, title="Confidential roadmap", tags=("internal",))
    make_prompt(owner.user, title="Confidential pending", status="pending")
    person = login_as("user")
    for path in ["/prompts?q=confidential", "/prompts?tab=public&q=confidential", "/prompts?tab=public&tags=internal",
                 "/prompts/tags?tags=int"]:
        html = person.get(path).get_data(as_text=True)
        assert "Confidential" not in html and not re.search(r"<option value=\"[^\"]*internal", html), path
