"""Full-text search: finds words in messages and titles, ranks, highlights safely, opens at the
message, pages, and never crosses users."""
from __future__ import annotations

import re

import pytest

from app.chat.models import Message
from app.core.markdown import render_markdown_safe
from app.extensions import db
from tests.conftest import count_queries
from tests.factories import make_conversation

pytestmark = pytest.mark.postgres  # full-text search differs per database (FTS5 vs tsvector)


def write(conversation, role, text):
    message = Message(conversation_id=conversation.id, user_id=conversation.user_id, role=role, content=text,
                      content_html=render_markdown_safe(text))
    db.session.add(message)
    db.session.commit()
    return message


def results(person, q, **params):
    return person.get("/chat/search", query_string={"q": q, **params}).get_data(as_text=True)


def test_finds_a_word_in_a_message_and_opens_the_conversation_at_it(login_as):
    person = login_as("user")
    conversation = make_conversation(person.user, messages=80, title="Budget talk")
    target = write(conversation, "assistant", "The quarterly invoice from Zanzibar arrived late.")
    for n in range(60):
        write(conversation, "user", f"later message {n}")
    html = results(person, "zanzibar")
    assert "Budget talk" in html and "<mark>Zanzibar</mark>" in html
    link = re.search(r'href="([^"]*at=[^"]+)"', html).group(1).replace("&amp;", "&")
    assert link.endswith(f"#message-{target.id}")
    page = person.get(link.split("#")[0]).get_data(as_text=True)
    assert f'id="message-{target.id}"' in page and "is-target" in page
    assert "Jump to the latest messages" in page and "Load earlier messages" in page


def test_finds_titles_and_highlights_them(login_as):
    person = login_as("user")
    make_conversation(person.user, title="Holiday in Portugal")
    html = results(person, "portugal")
    assert "<mark>Portugal</mark>" in html and "Conversations" in html


def test_prefix_of_the_last_word_matches_while_typing(login_as):
    person = login_as("user")
    write(make_conversation(person.user), "user", "photosynthesis explained simply")
    assert "<mark>photosynthesis</mark>" in results(person, "photosyn")


def test_results_are_ranked(login_as):
    person = login_as("user")
    conversation = make_conversation(person.user, title="Ranking")
    write(conversation, "user", "llama " + "filler words here " * 30)
    write(conversation, "assistant", "llama llama llama, all about the llama")
    html = results(person, "llama")
    assert html.index("all about the") < html.index("filler words")


def test_never_returns_another_users_text(login_as):
    owner, other = login_as("user"), login_as("user")
    write(make_conversation(owner.user, title="Secret project kumquat"), "user", "kumquat launch codes")
    html = results(other, "kumquat")
    assert "kumquat" not in html.lower().replace('value="kumquat"', "").replace("“kumquat”", "")
    assert "Nothing found" in html


def test_highlighting_never_injects_html(login_as):
    person = login_as("user")
    payload = '<img src=x onerror=alert(1)> dangerous <script>alert(2)</script> \x02mark\x03'
    write(make_conversation(person.user, title="<b>bold title</b> dangerous"), "user", payload)
    html = results(person, "dangerous")
    assert "<img" not in html and "<script>alert" not in html and "<b>bold" not in html
    assert "<mark>dangerous</mark>" in html
    assert html.count("<mark>") == html.count("</mark>")


def test_odd_queries_are_harmless(login_as):
    person = login_as("user")
    write(make_conversation(person.user), "user", "normal text")
    for query in ['"', "*", "AND OR NOT", "NEAR(", "a:b", "'; DROP TABLE users; --", "\\", "(((", "-", "ü"]:
        response = person.get("/chat/search", query_string={"q": query})
        assert response.status_code == 200, query


def test_live_search_swaps_only_the_results(login_as):
    person = login_as("user")
    write(make_conversation(person.user), "user", "live results please")
    fragment = person.get("/chat/search?q=live", headers={"HX-Request": "true", "HX-Target": "search-results"})
    html = fragment.get_data(as_text=True)
    assert "<mark>live</mark>" in html and "<html" not in html


def test_results_are_paged_with_constant_queries(app, login_as):
    person = login_as("user")
    conversation = make_conversation(person.user)
    for n in range(25):
        write(conversation, "user", f"walrus number {n}")
    first = results(person, "walrus")
    assert first.count('class="search-hit"') == 20 and "Next" in first
    second = results(person, "walrus", page=2)
    assert second.count('class="search-hit"') == 5
    with count_queries(app) as queries:
        person.get("/chat/search?q=walrus")
    assert len(queries) <= 6


def test_search_stays_current_with_edits_and_deletes(login_as):
    person = login_as("user")
    conversation = make_conversation(person.user, title="Mutable")
    message = write(conversation, "user", "original wording")
    message.content = "revised wording"
    db.session.commit()
    assert "Nothing found" in results(person, "original")
    assert "<mark>revised</mark>" in results(person, "revised")
    person.post(f"/chat/{conversation.id}/delete")
    assert "Nothing found" in results(person, "revised")
