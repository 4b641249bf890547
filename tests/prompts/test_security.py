"""Script in a prompt's title, description, text, tags, variable names, defaults and moderation reason
renders inert everywhere it shows; odd input never gives a 500."""
from __future__ import annotations

import json

import pytest

from app.extensions import db
from app.prompts.models import Prompt
from tests.helpers.markup import live_markup
from tests.prompts.factories import make_prompt

XSS = '<script>alert(1)</script><img src=x onerror=alert(2)>"\'><svg onload=alert(3)>'
HX = '<div hx-get="/account" hx-trigger="load">htmx</div>'


def assert_inert(html: str) -> None:
    assert live_markup(html) == []


def test_script_in_every_field_renders_inert_on_every_page(login_as):
    author = login_as("user")
    response = author.post("/prompts/new", {
        "title": f"T {XSS}", "description": f"D {XSS} {HX}",
        "tags": "<script>alert(1)</script>, <img src=x onerror=alert(2)>, ok-tag",
        "content": f"C {XSS} {HX} {{{{<img src=x onerror=1>}}}} {{{{ name = {XSS} }}}}",
        "visibility": "public"})
    assert response.status_code == 303
    prompt = db.session.query(Prompt).one()
    moderator = login_as("moderator")
    pages = [author.get(path) for path in ("/prompts", f"/prompts/{prompt.id}", f"/prompts/{prompt.id}/edit",
                                           f"/prompts/{prompt.id}/use", "/prompts?q=alert",
                                           "/prompts/tags?tags=%3Cscr")]
    pages.append(moderator.get("/moderation/prompts"))
    for response in pages:
        assert response.status_code == 200
        assert_inert(response.get_data(as_text=True))
    show = author.get(f"/prompts/{prompt.id}").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in show
    assert "{{&lt;img src=x onerror=1&gt;}}" in show  # not a variable name: literal text
    assert "hx-disable" in show


def test_script_in_a_rejection_reason_and_toasts_is_inert(login_as):
    author = login_as("user")
    prompt = make_prompt(author.user, title=f"Title {XSS}", status="pending")
    moderator = login_as("moderator")
    response = moderator.post(f"/moderation/prompts/{prompt.id}/reject", {"version": "1", "reason": XSS}, htmx=True)
    assert_inert(response.get_data(as_text=True))
    toast = json.loads(response.headers["HX-Trigger"])["toast"]["message"]
    assert toast == f"Rejected “Title {XSS}”."  # JSON-encoded; the page shows it with textContent
    assert_inert(author.get(f"/prompts/{prompt.id}").get_data(as_text=True))


def test_script_in_use_values_is_kept_as_text(login_as):
    person = login_as("user")
    prompt = make_prompt(person.user, content="{{ a }}")
    response = person.post(f"/prompts/{prompt.id}/use", {"var_0": "x" * 4001 + XSS})
    assert response.status_code == 200
    assert_inert(response.get_data(as_text=True))


@pytest.mark.parametrize("path", [
    "/prompts?tab=%00&sort=%ff&page=-1&q=%00%01", "/prompts?page=99999999999999999999", "/prompts?tags=" + "a," * 500,
    "/prompts?q=" + "%25_" * 300, "/prompts/tags?tags=" + "%2C" * 300, "/prompts/tags?tags=%00%5C%25",
    "/moderation/prompts?page=0", "/prompts/new?from_message=", "/prompts/new?from_message=%00",
])
def test_odd_query_strings_never_give_a_500(login_as, path):
    assert login_as("moderator").get(path).status_code in (200, 404)


@pytest.mark.parametrize("data", [
    {}, {"title": "\x00", "content": "\x00"}, {"title": "t", "content": "{{" * 5000}, {"title": "t", "content": "}}{{"},
    {"title": "t", "content": "c", "visibility": ["public", "private"]}, {"title": "t", "content": "c", "tags": ",,,"},
    {"title": "t", "content": "c", "tags": "\x01\x02"}, {"title": "t", "content": "c", "from_message": "nope"},
    {"title": "t", "content": "c", "version": "\x00"}, {"title": "t" * 10, "content": "{{ a = " + "{" * 300 + " }}"},
])
def test_odd_forms_never_give_a_500(login_as, data):
    person = login_as("user")
    assert person.post("/prompts/new", data).status_code in (200, 303, 404)
    prompt = make_prompt(person.user)
    assert person.post(f"/prompts/{prompt.id}/edit", data).status_code in (200, 303, 409)
    assert person.post(f"/prompts/{prompt.id}/use", data).status_code in (200, 303)
    moderator = login_as("moderator")
    pending = make_prompt(person.user, status="pending")
    for action in ("approve", "reject"):
        assert moderator.post(f"/moderation/prompts/{pending.id}/{action}", data).status_code in (200, 303)
