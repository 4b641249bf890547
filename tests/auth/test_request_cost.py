"""What every signed-in request pays before its view runs: one statement for the session, its user,
the two-factor hook and (on pages) the navigation's fingerprint; the navigation itself is read again
only after it changed, in whichever process changed it."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app import create_app
from app.auth.models import UserSession
from app.auth.services import LAST_SEEN_RESOLUTION
from app.auth.two_factor import set_role_requirement
from app.extensions import db
from app.models.base import utcnow
from app.security.origin import Origin
from app.security.roles import login_required
from tests.conftest import TEST_CONFIG, count_queries, log_in
from tests.factories import make_user

pytestmark = pytest.mark.postgres


def add_trivial_pages(app) -> None:
    """A signed-in route that does nothing, and one that shows the page shell (with the navigation)."""
    from flask import render_template_string

    app.add_url_rule("/_signed_in", "signed_in", login_required(lambda: "ok"), methods=["GET", "POST"])
    app.add_url_rule("/_shell", "shell", login_required(lambda: render_template_string('{% extends "base.html" %}')))


def touching(statements, table: str) -> list[str]:
    return [s for s in statements if table in s]


def test_a_signed_in_request_costs_one_compiled_once_statement_before_its_view(app, login_as):
    from sqlalchemy import event
    from sqlalchemy.engine.default import CACHE_HIT

    add_trivial_pages(app)
    person = login_as("user")
    person.get("/_shell")
    person.get("/_signed_in", headers={"HX-Request": "true"})
    caching: list = []

    def record(conn, cursor, statement, parameters, context, executemany):
        caching.append(context.cache_hit)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        with count_queries(app) as statements:
            assert person.get("/_signed_in").get_data(as_text=True) == "ok"
            assert person.get("/_signed_in", headers={"HX-Request": "true"}).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    # Session, user, two-factor need: no second statement in the hooks; the page's variant (with the
    # navigation's fingerprint) and the fragment's are both compiled once per process.
    assert len(statements) == 2 and caching == [CACHE_HIT, CACHE_HIT]
    assert "navigation_items" in statements[0] and "navigation_items" not in statements[1]


def test_a_page_reads_the_navigation_again_only_after_it_changed(app, login_as):
    add_trivial_pages(app)
    person = login_as("admin")
    person.get("/_shell")
    with count_queries(app) as statements:
        page = person.get("/_shell").get_data(as_text=True)
    assert len(statements) == 1 and 'aria-label="Main"' in page and ">Users<" in page

    # Another worker (its own app, same database) edits the navigation: this one shows it next.
    other_worker = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})
    other_client = log_in(other_worker.test_client(), person.user)
    token = other_client.get("/admin/navigation").get_data(as_text=True).split('name="csrf_token" type="hidden" '
                                                                               'value="', 1)[1].split('"', 1)[0]
    response = other_client.post("/admin/navigation", data={"label": "Handbook", "link": "/account",
                                                            "requires_role": "", "item_type": "link",
                                                            "csrf_token": token})
    assert response.status_code == 303
    with other_worker.app_context():
        db.engine.dispose()
    with count_queries(app) as statements:
        page = person.get("/_shell").get_data(as_text=True)
    assert ">Handbook<" in page and len(touching(statements, "ORDER BY navigation_items.position")) == 1


def test_a_fragment_or_a_stream_does_not_read_the_navigation_fingerprint(app, login_as):
    add_trivial_pages(app)
    person = login_as("user")
    assert person.csrf_token
    with count_queries(app) as statements:
        assert person.get("/_signed_in", headers={"HX-Request": "true"}).status_code == 200
        assert person.get("/_signed_in", headers={"Accept": "text/event-stream"}).status_code == 200
        assert person.post("/_signed_in", htmx=True).status_code == 200
    assert len(statements) == 3 and not touching(statements, "navigation_items")


def test_a_session_unused_for_a_while_is_touched_without_reading_it_again(app, login_as):
    add_trivial_pages(app)
    person = login_as("user")
    row = db.session.scalar(select(UserSession).where(UserSession.user_id == person.user.id))
    row.last_seen_at = utcnow() - LAST_SEEN_RESOLUTION - timedelta(seconds=5)
    db.session.commit()
    with count_queries(app) as statements:
        assert person.get("/_signed_in").status_code == 200
    assert len(statements) == 2 and statements[1].startswith("UPDATE user_sessions")
    db.session.refresh(row)
    assert utcnow() - row.last_seen_at < timedelta(seconds=30)


def test_a_role_newly_requiring_two_factor_sends_a_signed_in_person_to_enrolment(app, login_as):
    add_trivial_pages(app)
    person = login_as("moderator")
    assert person.get("/_signed_in").status_code == 200
    set_role_requirement(make_user("admin"), "moderator", True, Origin(None, None))
    response = person.get("/_signed_in")
    assert response.status_code == 303 and response.headers["Location"].endswith("/account/two-factor")
