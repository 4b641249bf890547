"""Full-text search: finds words in messages and titles, ranks, highlights safely, opens at the
message, pages, and never crosses users."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import text

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


# --- PostgreSQL: how the owner's newest matches are found (migration 0018) ------------------------

def test_the_cheaper_way_is_tried_first_and_the_last_way_always_completes():
    from app.chat.search import PROBE_ROWS, RANKED_CANDIDATES, Probe, choose_ways

    assert choose_ways(Probe(seen=40, hits=3, index_hits=3)) == [("walk", PROBE_ROWS)]  # a small history
    assert choose_ways(Probe(PROBE_ROWS, 0, 0, None)) == [("index", 0)]  # nothing among the newest
    common = choose_ways(Probe(PROBE_ROWS, 650, 650, 100_000))
    assert common[0][0] == "walk" and common[-1] == ("index", 0)
    assert common[0][1] >= RANKED_CANDIDATES * PROBE_ROWS / 650  # room to find the cap, bounded
    assert choose_ways(Probe(PROBE_ROWS, 20, 20, 100_000)) == [("index", 0)]  # two words, a prefix
    # A phrase of common words: the index would return every message with both words.
    assert choose_ways(Probe(PROBE_ROWS, 50, 360, 100_000))[0][0] == "walk"


def test_the_owner_index_query_keeps_every_match_of_the_query():
    from app.chat.search import parse_query, to_index_tsquery_text

    assert to_index_tsquery_text(parse_query('"heat pump" -gas -"oil boiler" furn')) == (
        "('heat' & 'pump') & 'furn':* & !'gas'")
    assert to_index_tsquery_text(parse_query("a OR b")) == "('a' | 'b':*)"


@pytest.fixture
def force_way(monkeypatch):
    """Make PostgreSQL's search take these ways, whatever the probe says."""
    from app.chat import search as chat_search

    def force(*ways):
        monkeypatch.setattr(chat_search, "choose_ways", lambda probe: list(ways))

    return force


QUERIES = ["zebra", "zeb", "zebra crossing", '"zebra crossing"', 'zebra -"crossing guard"', "zebra -guard",
           "okapi OR zebra", "nothingmatches"]


@pytest.mark.postgres(only=True)
def test_every_way_finds_the_same_ranked_hits(login_as, force_way):
    person = login_as("user")
    conversation = make_conversation(person.user)
    for content in ["zebra crossing ahead", "a crossing for the zebra", "zebra zebra crossing guard", "okapi only",
                    "the zebra crossing guard waved", "zebras everywhere", "unrelated words"]:
        write(conversation, "user", content)
    found = {}
    for ways in ([("index", 0)], [("walk", 10_000)], [("walk", 2), ("index", 0)]):  # the last stops short
        force_way(*ways)
        found[str(ways)] = [snippets_of(person, query) for query in QUERIES]
    first, *others = found.values()
    assert all(other == first for other in others)
    assert [len(hits) for hits in first] == [5, 5, 4, 3, 2, 2, 6, 0]


def snippets_of(person, q):
    html = results(person, q)
    return [re.sub(r"</?mark>", "", s) for s in re.findall(r'<p class="search-snippet">(.*?)</p>', html, re.S)]


@pytest.mark.postgres(only=True)
def test_the_owner_index_never_returns_a_user_sharing_the_tag(login_as, force_way):
    import uuid

    from app.auth.models import User

    person = login_as("user")
    write(make_conversation(person.user), "user", "my own kumquat note")
    # Another account whose id ends like this one's: same tag in the index, different owner.
    twin = User(id=uuid.UUID(uuid.uuid4().hex[:24] + person.user.id.hex[24:]), email="twin@example.org",
                display_name="Twin", hashed_password="x", role="user", is_active_account=True)
    db.session.add(twin)
    db.session.commit()
    write(make_conversation(twin, title="Twin kumquats"), "user", "twin kumquat secrets")
    force_way(("index", 0))
    for query in ["kumquat", "kumq", "secrets", "twin"]:
        html = person.get("/chat/search", query_string={"q": query},
                          headers={"HX-Request": "true", "HX-Target": "search-results"}).get_data(as_text=True)
        assert "secrets</" not in html and "Twin kumquats" not in html, query
    assert len(snippets_of(person, "kumquat")) == 1


@pytest.mark.postgres(only=True)
def test_long_words_and_huge_messages_stay_searchable(login_as, force_way):
    person = login_as("user")
    conversation = make_conversation(person.user)
    # A 2,040-letter word: tagged, it would pass tsvector's 2,047-byte limit for a lexeme.
    write(conversation, "user", "q" * 2040 + " " + " ".join(f"filler{n}" for n in range(300)) + " narwhal")
    force_way(("index", 0))
    assert len(snippets_of(person, "q" * 150)) == 1 and len(snippets_of(person, "narwhal")) == 1
    # Past 1 MB of tagged lexemes, a message is indexed under the bare tag, which every query matches.
    owner = person.user.id
    huge = db.session.execute(text(
        "SELECT nexus_owner_lexemes(:owner, array_to_tsvector(array("
        "  SELECT md5(g::text) FROM generate_series(1, 30000) AS g))) "
        "@@ nexus_owner_tsquery(:owner, to_tsquery('simple', 'anything'))"), {"owner": owner}).scalar()
    assert huge is True


@pytest.mark.postgres(only=True)
def test_new_and_edited_messages_are_found_at_once_through_the_owner_index(login_as, force_way):
    person = login_as("user")
    conversation = make_conversation(person.user)
    force_way(("index", 0))
    message = write(conversation, "user", "first mention of a capybara")
    assert len(snippets_of(person, "capyb")) == 1
    message.content = "now about a tapir"
    db.session.commit()
    assert snippets_of(person, "capybara") == [] and len(snippets_of(person, "tapir")) == 1


@pytest.mark.postgres(only=True)
def test_migration_0018_downgrades_and_upgrades_an_existing_database(app, login_as):
    from flask_migrate import downgrade, upgrade

    from tests.conftest import REPO

    person = login_as("user")
    write(make_conversation(person.user), "user", "the axolotl survives migrations")
    db.session.close()

    def indexes():
        return set(db.session.execute(text(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'nexus_messages'")).scalars())

    downgrade(directory=str(REPO / "migrations"), revision="0017")
    assert "ix_nexus_messages_search" in indexes() and "ix_nexus_messages_owner_search" not in indexes()
    db.session.close()
    upgrade(directory=str(REPO / "migrations"))
    assert "ix_nexus_messages_owner_search" in indexes() and "ix_nexus_messages_search" not in indexes()
    db.session.close()
    assert len(snippets_of(person, "axol")) == 1


def test_the_search_page_explains_the_query_syntax(login_as):
    html = results(login_as("user"), "")
    hint = re.search(r'<p class="field-hint" id="search-syntax-hint">(.*?)</p>', html, re.S).group(1)
    assert 'aria-describedby="search-syntax-hint"' in html
    assert all(example in hint for example in ['"heat pump"', "-gas", "boiler OR furnace"])
