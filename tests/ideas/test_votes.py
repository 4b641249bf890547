"""Voting toggles one vote per person; the stored count equals the vote rows, also when many
clicks arrive at once from one person or from many people."""
from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.ideas.models import Idea, IdeaVote
from tests.factories import make_user
from tests.ideas.factories import make_idea
from tests.sse_client import signed_in_http_client

pytestmark = pytest.mark.postgres  # vote counts under concurrent writers and unique constraints


def vote_rows(idea) -> int:
    return db.session.scalar(select(func.count()).select_from(IdeaVote).where(IdeaVote.idea_id == idea.id))


def stored_count(idea) -> int:
    db.session.expire_all()
    return db.session.scalar(select(Idea.vote_count).where(Idea.id == idea.id))


def pressed(html: str) -> str:
    return re.search(r'aria-pressed="(true|false)"', html).group(1)


def test_voting_toggles_and_swaps_the_button_in_place(login_as):
    person = login_as("user")
    idea = make_idea(title="Keyboard shortcuts", voters=[make_user()])
    first = person.post(f"/ideas/{idea.id}/vote", htmx=True)
    html = first.get_data(as_text=True)
    assert first.status_code == 200 and "<html" not in html
    assert f'id="vote-{idea.id}"' in html and pressed(html) == "true"
    assert '<span class="vote-count">2</span>' in html and "Vote for Keyboard shortcuts (</span>" in html
    assert vote_rows(idea) == stored_count(idea) == 2
    second = person.post(f"/ideas/{idea.id}/vote", htmx=True).get_data(as_text=True)
    assert pressed(second) == "false" and '<span class="vote-count">1</span>' in second
    assert vote_rows(idea) == stored_count(idea) == 1
    board = person.get("/ideas").get_data(as_text=True)
    assert 'aria-pressed="false"' in board
    person.post(f"/ideas/{idea.id}/vote", htmx=True)
    assert 'aria-pressed="true"' in person.get("/ideas").get_data(as_text=True)
    assert 'aria-pressed="true"' in person.get(f"/ideas/{idea.id}").get_data(as_text=True)


def test_a_plain_form_vote_goes_back_to_a_page_of_this_site(login_as):
    person = login_as("user")
    idea = make_idea()
    back = person.post(f"/ideas/{idea.id}/vote", {"next": "/ideas?sort=newest"})
    assert back.status_code == 303 and back.headers["Location"] == "/ideas?sort=newest"
    for unsafe in ["//evil.example/x", "https://evil.example", "/\\evil.example", "javascript:alert(1)"]:
        response = person.post(f"/ideas/{idea.id}/vote", {"next": unsafe})
        assert response.headers["Location"] == f"/ideas/{idea.id}", unsafe
    assert stored_count(idea) == vote_rows(idea) == 1  # five toggles


@pytest.mark.parametrize("status", ["completed", "declined"])
def test_voting_is_closed_on_completed_and_declined_ideas(login_as, status):
    person = login_as("user")
    idea = make_idea(status=status, voters=[make_user()])
    response = person.post(f"/ideas/{idea.id}/vote", htmx=True)
    assert response.status_code == 409 and "Voting is closed" in response.headers["HX-Trigger"]
    assert vote_rows(idea) == stored_count(idea) == 1
    page = person.get(f"/ideas/{idea.id}").get_data(as_text=True)
    assert "voting closed" in page and f"/ideas/{idea.id}/vote" not in page


def test_voting_on_an_idea_that_does_not_exist_answers_404(login_as):
    person = login_as("user")
    assert person.post("/ideas/00000000-0000-7000-8000-000000000000/vote", htmx=True).status_code == 404


def test_the_database_allows_one_vote_per_person(app):
    voter = make_user()
    idea = make_idea(voters=[voter])
    with pytest.raises(IntegrityError):
        db.session.execute(insert(IdeaVote).values(id=__import__("uuid").uuid4(), idea_id=idea.id, user_id=voter.id,
                                                   created_at=idea.created_at))
        db.session.flush()
    db.session.rollback()


def fire_together(calls: list) -> list:
    """Run the calls in parallel threads, released at the same moment."""
    start = threading.Barrier(len(calls))

    def run(call):
        start.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_fifty_parallel_toggles_by_one_person_keep_the_count_exact(app, live_server):
    idea = make_idea(voters=[make_user(), make_user()])
    client = signed_in_http_client(live_server, make_user())
    client.headers["HX-Request"] = "true"
    try:
        url = f"/ideas/{idea.id}/vote"  # read here: the threads have no app context
        responses = fire_together([lambda: client.post(url)] * 50)
    finally:
        client.close()
    assert [r.status_code for r in responses] == [200] * 50
    # Each toggle saw the one before it: half of them added the vote, half took it back.
    assert sorted(pressed(r.text) for r in responses).count("true") == 25
    assert vote_rows(idea) == stored_count(idea) == 2


def test_thirty_people_voting_at_once_give_thirty_votes(app, live_server):
    idea = make_idea()
    clients = [signed_in_http_client(live_server, make_user()) for _ in range(30)]
    try:
        url = f"/ideas/{idea.id}/vote"
        responses = fire_together([lambda c=c: c.post(url, headers={"HX-Request": "true"}) for c in clients])
    finally:
        for c in clients:
            c.close()
    assert [r.status_code for r in responses] == [200] * 30
    assert all(pressed(r.text) == "true" for r in responses)
    assert vote_rows(idea) == stored_count(idea) == 30


def test_many_people_toggling_twice_at_once_end_where_they_started(app, live_server):
    voters = [make_user() for _ in range(10)]
    idea = make_idea(voters=voters[:5])
    clients = [signed_in_http_client(live_server, voter) for voter in voters]
    try:
        url = f"/ideas/{idea.id}/vote"
        calls = [lambda c=c: c.post(url, headers={"HX-Request": "true"}) for c in clients] * 2
        responses = fire_together(calls)
    finally:
        for c in clients:
            c.close()
    assert [r.status_code for r in responses] == [200] * 20
    assert vote_rows(idea) == stored_count(idea) == 5
