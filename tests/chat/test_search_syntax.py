"""Search queries as people type them: several words, the last one still being typed, "a phrase",
-left out, a OR b; ranking; and no input, however odd, that errors or reaches another user's text."""
from __future__ import annotations

import json
import re

import pytest
from markupsafe import escape

from app.chat.models import Message
from app.chat.search import (
    MAX_TERMS,
    parse_query,
    search,
    to_fts5_text,
    to_tsquery_text,
)
from app.core.markdown import render_markdown_safe
from app.extensions import db
from tests.factories import make_conversation, make_user
from tests.shared_testdata import shared_file


def write(conversation, role, text):
    message = Message(conversation_id=conversation.id, user_id=conversation.user_id, role=role, content=text,
                      content_html=render_markdown_safe(text))
    db.session.add(message)
    db.session.commit()
    return message


def snippets(person, q):
    """The snippets of the message hits, in the order shown, without their <mark>s. (PostgreSQL's
    snippet starts at the first word found, so tests name each message by a word after that.)"""
    page = person.get("/chat/search", query_string={"q": q})
    assert page.status_code == 200
    found = re.findall(r'<p class="search-snippet">(.*?)</p>', page.get_data(as_text=True), re.S)
    return [re.sub(r"</?mark>", "", s).strip() for s in found]


# --- reading the query (no database) ----------------------------------------------------------------

def test_the_last_word_is_a_prefix_only_while_it_is_being_typed():
    assert to_tsquery_text(parse_query("solar pan")) == "'solar' & 'pan':*"
    assert to_tsquery_text(parse_query('solar "panel"')) == "'solar' & 'panel'"
    assert to_tsquery_text(parse_query("solar -pan")) == "'solar' & !'pan'"
    assert to_tsquery_text(parse_query('"solar pan')) == "('solar' <-> 'pan':*)"
    assert to_tsquery_text(parse_query('"solar pan" ')) == "('solar' <-> 'pan')"


def test_phrases_exclusions_and_or_are_read_the_web_search_way():
    parsed = parse_query('"heat pump" -gas boiler OR furnace')
    assert to_tsquery_text(parsed) == "('heat' <-> 'pump') & ('boiler' | 'furnace':*) & !'gas'"
    assert to_fts5_text(parsed, "content", "abc") == (
        '(user_id : "abc" AND content : ("heat pump" AND ("boiler" OR "furnace" *))) NOT content : ("gas")')
    assert parsed.terms == ["heat", "pump", "boiler", "furnace"]


def test_operators_alone_look_for_nothing():
    for query in ["", "   ", "OR", "-", "--", '"', '""', "- OR -", "-word", '-"a phrase"', "!@#$%^&*()", "<->", ":*"]:
        assert parse_query(query).terms == [], query


def test_every_string_becomes_words_only_in_both_query_languages():
    strings = json.loads(shared_file("blns.json").read_text(encoding="utf-8"))
    allowed_tsquery = re.compile(r"^(?:'[^\W_]+'(?::\*)?|[ &|!()<\->])*$")
    for string in strings:
        parsed = parse_query(string)
        assert sum(len(item.words) for group in parsed.groups for item in group) + sum(
            len(item.words) for item in parsed.excluded) <= MAX_TERMS
        if parsed.terms:
            assert allowed_tsquery.match(to_tsquery_text(parsed)), string
            fts = to_fts5_text(parsed, "content", "owner")
            assert re.fullmatch(r'[^"]*(?:"[^\W_]+(?: [^\W_]+)*"[^"]*)*', fts.replace('"owner"', "")), string


# --- against the database (SQLite and PostgreSQL) --------------------------------------------------

@pytest.mark.postgres
def test_two_words_find_only_messages_with_both_in_any_order(login_as):
    person = login_as("user")
    conversation = make_conversation(person.user)
    write(conversation, "user", "glacier trip in the spring")
    write(conversation, "user", "spring cleaning of the garage")
    write(conversation, "user", "the glacier melted")
    found = snippets(person, "spring glacier")
    assert len(found) == 1 and "trip" in found[0]


@pytest.mark.postgres
def test_a_message_with_both_words_ranks_above_one_with_either(login_as):
    person = login_as("user")
    conversation = make_conversation(person.user)
    write(conversation, "user", "notes about the marmot")
    write(conversation, "user", "the marmot met a quokka today")
    write(conversation, "user", "a quokka smiles")
    found = snippets(person, "marmot OR quokka")
    assert len(found) == 3 and "met a" in found[0]


@pytest.mark.postgres
def test_prefix_applies_to_the_word_being_typed_only(login_as):
    person = login_as("user")
    write(make_conversation(person.user), "user", "photosynthesis explained simply")
    assert len(snippets(person, "simply photosyn")) == 1
    assert snippets(person, "photosyn simply") == []
    assert snippets(person, '"photosyn"') == []


@pytest.mark.postgres
def test_quoted_phrases_keep_word_order_and_minus_leaves_out(login_as):
    person = login_as("user")
    conversation = make_conversation(person.user)
    write(conversation, "user", "the heat pump is quiet")
    write(conversation, "user", "pump the heat up, said the gas boiler")
    for query in ['"heat pump"', "heat -gas", 'heat -"gas boiler"', '"heat pu']:
        found = snippets(person, query)
        assert len(found) == 1 and "is quiet" in found[0], query
    assert len(snippets(person, "heat pump")) == 2
    assert len(snippets(person, 'heat -"boiler gas"')) == 2


@pytest.mark.postgres
def test_no_query_shape_reaches_another_users_messages_or_titles(login_as):
    owner, other = login_as("user"), login_as("user")
    write(make_conversation(owner.user, title="Kumquat plans"), "user", "kumquat harvest schedule")
    write(make_conversation(other.user, title="Mine"), "user", "my harvest notes")
    for query in ["kumquat", "kumq", '"kumquat harvest"', "kumquat OR harvest", "harvest -notes", "plans"]:
        html = other.get("/chat/search", query_string={"q": query}).get_data(as_text=True)
        assert "kumquat" not in html.replace(str(escape(query)), "").lower(), query
        sidebar = other.get("/chat/sidebar", query_string={"q": query}).get_data(as_text=True)
        assert "Kumquat plans" not in sidebar, query
    assert snippets(other, "harvest -notes") == []


@pytest.mark.postgres
def test_the_sidebar_filter_reads_the_same_syntax(login_as):
    person = login_as("user")
    make_conversation(person.user, title="Trip to Lisbon")
    make_conversation(person.user, title="Trip to Porto")
    sidebar = person.get("/chat/sidebar", query_string={"q": "trip -porto"}).get_data(as_text=True)
    assert "Lisbon" in sidebar and "Porto" not in sidebar


@pytest.mark.postgres
def test_odd_and_naughty_queries_never_fail(app, login_as):
    person = login_as("user")
    write(make_conversation(person.user), "user", "normal text with a \"quote\" and -dash")
    queries = ['"', '""', '"""', '-"', '"-"', "- -", "OR OR", "a OR", "OR a", "-OR", "'", "''", "\\'", ":*", "!",
               "&|", "<->", "a:*b", "(((", ")))", "NEAR(a b)", "a AND", "^a", "'; DROP TABLE users; --", "\x00",
               "%", "_", "__init__", "🙂", "東京", "٣٤", "²", "ﬁ", "a\u200bb", "é", "ǅ", "\u202e", '"' * 200,
               "- " * 100, "a" * 200, " ".join(["word"] * 60)]
    for query in queries:
        response = person.get("/chat/search", query_string={"q": query})
        assert response.status_code == 200, repr(query)
    for query in queries[::3]:  # the sidebar's title filter reads the same parser
        assert person.get("/chat/sidebar", query_string={"q": query}).status_code == 200, repr(query)
    # Every string is reduced to quoted words (test above); what the databases' own tokenizers may read
    # differently is letters beyond ASCII, so those strings go through the service itself.
    strings = json.loads(shared_file("blns.json").read_text(encoding="utf-8"))
    unusual = [s for s in strings if any(not word.isascii() for word in parse_query(s).terms)]
    assert len(unusual) > 40
    for string in unusual:
        search(person.user, string)
        db.session.rollback()


@pytest.mark.postgres
def test_a_replaced_message_stays_out_and_its_replacement_is_found(login_as):
    person = login_as("user")
    conversation = make_conversation(person.user)
    old = write(conversation, "user", "first draft of the wombat essay")
    new = write(conversation, "user", "second draft of the wombat essay")
    old.superseded_by_id = new.id
    db.session.commit()
    found = snippets(person, "wombat")
    assert len(found) == 1 and "second" in found[0]
    assert snippets(person, "first wombat") == []


@pytest.mark.postgres
def test_results_show_the_searchers_own_rows_only_even_when_others_have_more(login_as):
    person = login_as("user")
    others = [make_user() for _ in range(2)]
    for user in others:
        conversation = make_conversation(user)
        for n in range(30):
            write(conversation, "user", f"ocelot sighting {n}")
    write(make_conversation(person.user), "user", "ocelot seen once by myself")
    found = snippets(person, "ocelot")
    assert len(found) == 1 and "myself" in found[0]
