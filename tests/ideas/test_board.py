"""The board: sorted by votes or newest, filtered by status, searchable, paged by 20, and a constant
number of queries however many ideas, votes and notes there are."""
from __future__ import annotations

import re

import pytest

from tests.conftest import count_queries
from tests.factories import make_user
from tests.ideas.factories import make_idea

pytestmark = pytest.mark.postgres  # ordering, paging, search and query counts


def titles(html: str) -> list[str]:
    return re.findall(r'class="idea-card-title"[^>]*><a href="/ideas/[^"]+">([^<]+)</a>', html)


def test_the_board_sorts_by_votes_by_default_or_by_newest(login_as):
    person = login_as("user")
    voters = [make_user() for _ in range(3)]
    make_idea(title="Old and loved", voters=voters, age_minutes=30)
    make_idea(title="Middle", voters=voters[:1], age_minutes=20)
    make_idea(title="Fresh", age_minutes=1)
    assert titles(person.get("/ideas").get_data(as_text=True)) == ["Old and loved", "Middle", "Fresh"]
    assert titles(person.get("/ideas?sort=newest").get_data(as_text=True)) == ["Fresh", "Middle", "Old and loved"]


def test_each_card_shows_votes_status_notes_and_the_authors_name(login_as):
    person = login_as("user")
    idea = make_idea(make_user(display_name="Ada Lovelace"), title="Offline mode", status="planned",
                     priority_level="high", voters=[make_user(), make_user()], notes=3)
    html = person.get("/ideas").get_data(as_text=True)
    card = html[html.index(f'id="vote-{idea.id}"'):]
    card = card[:card.index("</article>")]
    assert '<span class="vote-count">2</span>' in card and ">Planned</span>" in card
    assert "High priority" in card and "3 notes" in card and "by Ada Lovelace" in card


def test_the_board_filters_by_status_and_searches_titles_and_descriptions(login_as):
    person = login_as("user")
    make_idea(title="Dark theme", status="planned")
    make_idea(title="Export to PDF", description="Like a dark printout", status="new")
    make_idea(title="100% faster search", status="completed")
    assert titles(person.get("/ideas?status=planned").get_data(as_text=True)) == ["Dark theme"]
    assert sorted(titles(person.get("/ideas?q=DARK").get_data(as_text=True))) == ["Dark theme", "Export to PDF"]
    assert titles(person.get("/ideas?q=dark&status=new").get_data(as_text=True)) == ["Export to PDF"]
    assert titles(person.get("/ideas?q=100%25").get_data(as_text=True)) == ["100% faster search"]
    assert titles(person.get("/ideas?q=_").get_data(as_text=True)) == []  # LIKE wildcards are plain text
    assert "No idea matches." in person.get("/ideas?q=nothing-like-this").get_data(as_text=True)


def test_the_filters_swap_only_the_results(login_as):
    person = login_as("user")
    make_idea(title="Dark theme", status="planned")
    response = person.get("/ideas?status=planned", headers={"HX-Request": "true", "HX-Target": "idea-results"})
    html = response.get_data(as_text=True)
    assert "<html" not in html and "Dark theme" in html and 'class="idea-filters"' not in html
    # A boosted link or a history restore gets the whole page.
    restore = person.get("/ideas", headers={"HX-Request": "true", "HX-History-Restore-Request": "true",
                                            "HX-Target": "idea-results"})
    assert "<html" in restore.get_data(as_text=True)


def test_the_board_pages_by_twenty(login_as):
    person = login_as("user")
    for number in range(25):
        make_idea(person.user, title=f"Idea number {number:02d}", age_minutes=100 - number)
    first = person.get("/ideas?sort=newest").get_data(as_text=True)
    assert len(titles(first)) == 20 and titles(first)[0] == "Idea number 24"
    assert 'href="/ideas?page=2&amp;sort=newest"' in first
    second = person.get("/ideas?sort=newest&page=2").get_data(as_text=True)
    assert titles(second) == [f"Idea number {n:02d}" for n in range(4, -1, -1)]
    assert ">Next</a>" not in second and ">Previous</a>" in second


@pytest.mark.parametrize("query", ["sort=sideways", "status=lost", "page=abc", "page=-3", "page=99999999999",
                                   "q=%00%00", "q=" + "x" * 5000, "status=new&status=planned"])
def test_odd_board_addresses_fall_back_to_defaults(login_as, query):
    person = login_as("user")
    make_idea(title="Still here")
    response = person.get(f"/ideas?{query}")
    assert response.status_code == 200


def test_the_board_runs_the_same_queries_for_3_or_40_ideas(app, login_as):
    person = login_as("user")
    people = [make_user() for _ in range(6)]
    for number in range(3):
        make_idea(people[number], voters=[people[5]], notes=1)
    person.get("/ideas")  # warm up: the session's last-seen update
    with count_queries(app) as few:
        assert person.get("/ideas").status_code == 200
    for number in range(37):
        make_idea(people[number % 5], voters=[person.user, people[5]], notes=2, note_authors=people)
    person.get("/ideas")
    with count_queries(app) as many:
        html = person.get("/ideas").get_data(as_text=True)
    assert len(titles(html)) == 20 and len(set(re.findall(r"by (Person \d+)", html))) == 5
    assert len(few) == len(many) <= 6, many  # session, navigation, ideas with authors, my votes


def test_an_idea_page_runs_the_same_queries_for_1_or_20_notes(app, login_as):
    person = login_as("moderator")
    people = [make_user() for _ in range(4)]
    small = make_idea(people[0], notes=1)
    large = make_idea(people[1], notes=20, voters=[person.user], note_authors=people)
    person.get(f"/ideas/{small.id}")
    with count_queries(app) as few:
        assert person.get(f"/ideas/{small.id}").status_code == 200
    with count_queries(app) as many:
        html = person.get(f"/ideas/{large.id}").get_data(as_text=True)
    assert html.count('class="note"') == 20
    assert len(few) == len(many) <= 7, many
