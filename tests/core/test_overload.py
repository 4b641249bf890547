"""An overloaded server says so: with every database connection of the process taken, a page answers
503 "busy" with Retry-After (a page and an htmx toast), never a 500."""
from __future__ import annotations

import json

from app import create_app
from app.extensions import db
from tests.conftest import TEST_CONFIG


def test_a_request_finding_no_free_database_connection_gets_busy_not_an_error(database_url):
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": database_url, "SQLALCHEMY_ENGINE_OPTIONS": {
        "pool_size": 1, "max_overflow": 0, "pool_timeout": 0.2}})
    with app.app_context():
        held = db.engine.connect()  # the pool's only connection, as a long request would hold it
        try:
            client = app.test_client()
            page = client.get("/s/" + "x" * 43)  # a public page that reads the database
            assert page.status_code == 503 and page.headers["Retry-After"].isdigit()
            assert "Studio is busy, try again in a moment." in page.get_data(as_text=True)
            htmx = client.get("/s/" + "x" * 43, headers={"HX-Request": "true"})
            assert htmx.status_code == 503
            assert json.loads(htmx.headers["HX-Trigger"])["toast"]["level"] == "error"
        finally:
            held.close()
        assert app.test_client().get("/s/" + "x" * 43).status_code == 404  # free again: served as usual
        db.session.remove()
        db.engine.dispose()
