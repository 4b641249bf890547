"""Using a prompt: a form of its variables, plain substitution (no template injection), the use
logged with the filled text and counted, then a new chat that reads the text back."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from app.extensions import db
from app.prompts.models import PromptUsageEvent
from app.prompts.services import filled_text_for_use
from tests.prompts.factories import make_prompt


def use_event_id(response) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    location = urlsplit(response.headers["Location"])
    assert location.path == "/chat"
    return parse_qs(location.query)["prompt_use"][0]


def test_the_use_form_asks_each_variable_once_with_its_default(login_as):
    person = login_as("user")
    prompt = make_prompt(person.user, content="To {{ name }}: {{ tone = warm }} note, {{ name }} again. {{ 7*7 }}")
    html = person.get(f"/prompts/{prompt.id}/use").get_data(as_text=True)
    labels = re.findall(r'<label class="field-label" for="(var_\d+)">([^<]+)</label>', html)
    assert labels == [("var_0", "name"), ("var_1", "tone")]
    assert re.search(r'id="var_1"[^>]*>\s*warm</textarea>', html) and "Default: warm" in html
    assert "{{ 7*7 }}" in html  # shown literally in the text


@pytest.mark.postgres
def test_using_fills_the_text_logs_it_counts_it_and_opens_a_chat(login_as):
    author = login_as("user")
    prompt = make_prompt(author.user, content="Write to {{ name }} in a {{ tone = warm }} tone.", status="approved")
    person = login_as("user")
    event_id = use_event_id(person.post(f"/prompts/{prompt.id}/use", {"var_0": "Ada", "var_1": "dry"}))
    event = db.session.scalar(select(PromptUsageEvent))
    assert str(event.id) == event_id and event.user_id == person.user.id and event.event_type == "use"
    assert event.filled_content == "Write to Ada in a dry tone."
    db.session.refresh(prompt)
    assert prompt.use_count == 1 and prompt.version == 1
    assert filled_text_for_use(person.user, event_id) == "Write to Ada in a dry tone."
    assert filled_text_for_use(person.user, event.id) == "Write to Ada in a dry tone."


def test_the_filled_text_is_only_for_the_person_who_used_it(login_as):
    person = login_as("user")
    prompt = make_prompt(person.user, content="Hi {{ who }}")
    event_id = use_event_id(person.post(f"/prompts/{prompt.id}/use", {"var_0": "there"}))
    other = login_as("user")
    assert filled_text_for_use(other.user, event_id) is None
    for junk in [None, "", "not-a-uuid", "00000000-0000-7000-8000-000000000000", 42, "'; drop table x"]:
        assert filled_text_for_use(person.user, junk) is None


def test_a_value_is_required_and_what_was_typed_is_kept(login_as):
    person = login_as("user")
    prompt = make_prompt(person.user, content="{{ a }} and {{ b = B }}")
    response = person.post(f"/prompts/{prompt.id}/use", {"var_0": "  ", "var_1": "kept value"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Fill in “a”." in html and "kept value" in html
    assert db.session.scalar(select(PromptUsageEvent)) is None


def test_values_are_limited_in_size(login_as):
    person = login_as("user")
    prompt = make_prompt(person.user, content="{{ a }}")
    response = person.post(f"/prompts/{prompt.id}/use", {"var_0": "x" * 4001})
    assert response.status_code == 200 and "At most 4,000 characters." in response.get_data(as_text=True)


def test_a_filled_text_longer_than_a_chat_message_is_refused(login_as):
    person = login_as("user")
    prompt = make_prompt(person.user, content=" ".join(["{{ a }}"] * 10))
    response = person.post(f"/prompts/{prompt.id}/use", {"var_0": "x" * 4000})
    assert response.status_code == 200 and "at most 32,000" in response.get_data(as_text=True)


def test_a_prompt_without_variables_is_used_as_it_is(login_as):
    person = login_as("user")
    prompt = make_prompt(person.user, content="Tell me a joke.")
    assert "Use</button>" in person.get(f"/prompts/{prompt.id}").get_data(as_text=True)
    event_id = use_event_id(person.post(f"/prompts/{prompt.id}/use"))
    assert filled_text_for_use(person.user, event_id) == "Tell me a joke."


def test_template_syntax_in_a_prompt_is_never_evaluated(app, login_as):
    person = login_as("user")
    content = ("{{ config }} {{ 7*7 }} {{ ''.__class__.__mro__ }} {% for k in config %}{{ k }}{% endfor %} "
               "{{ request.environ }} {{ self.__init__.__globals__ }}")
    prompt = make_prompt(person.user, content=content)
    page = person.get(f"/prompts/{prompt.id}").get_data(as_text=True)
    secret = app.config["SECRET_KEY"]
    shown = re.search(r'<div class="prompt-text" hx-disable>(.*?)</div>', page, re.S).group(1)
    assert "{{ 7*7 }}" in shown and "49" not in shown and secret not in page and "&lt;Config" not in page
    variables = {v["name"] for v in prompt.variables}
    assert variables == {"config", "k"}
    values = {"var_0": "{{ 7*7 }}", "var_1": "{{ config.SECRET_KEY }}"}  # values are text too
    text = filled_text_for_use(person.user, use_event_id(person.post(f"/prompts/{prompt.id}/use", values)))
    assert text.startswith("{{ 7*7 }} {{ 7*7 }} {{ ''.__class__.__mro__ }} "
                           "{% for k in config %}{{ config.SECRET_KEY }}")
    assert secret not in text and "49" not in text


def test_htmx_use_answers_with_a_redirect_header(login_as):
    person = login_as("user")
    prompt = make_prompt(person.user, content="Plain")
    response = person.post(f"/prompts/{prompt.id}/use", htmx=True)
    assert response.status_code == 204 and response.headers["HX-Redirect"].startswith("/chat?prompt_use=")


def test_variables_named_like_form_attributes_work(login_as):
    person = login_as("user")
    prompt = make_prompt(person.user, content="{{ data }} {{ errors }} {{ validate }} {{ csrf_token }} {{ meta }}")
    html = person.get(f"/prompts/{prompt.id}/use").get_data(as_text=True)
    assert all(f">{name}</label>" in html for name in ("data", "errors", "validate", "csrf_token", "meta"))
    response = person.post(f"/prompts/{prompt.id}/use", {"var_0": "1", "var_1": "2", "var_2": "3", "var_3": "4"})
    assert response.status_code == 200 and "Fill in “meta”." in response.get_data(as_text=True)
    event_id = use_event_id(person.post(f"/prompts/{prompt.id}/use",
                                        {"var_0": "1", "var_1": "2", "var_2": "3", "var_3": "4", "var_4": "5"}))
    assert filled_text_for_use(person.user, event_id) == "1 2 3 4 5"
