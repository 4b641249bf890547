"""Pooled PostgreSQL connections are checked before use only after sitting idle (app/extensions.py
`ping_connections_idle_for`): a connection the database dropped is replaced before a request sees it,
and one used a moment ago costs no extra round trip."""
from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text

from app import create_app
from app.extensions import db
from tests.conftest import TEST_CONFIG

pytestmark = pytest.mark.postgres(only=True)


def _app(database_url: str, idle_seconds: float):
    return create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": database_url,
                       "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 1, "max_overflow": 0},
                       "DATABASE_PING_AFTER_IDLE_SECONDS": idle_seconds})


def _backend_pid(app) -> int:
    with app.app_context():
        pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar()
        db.session.remove()
    return pid


def test_a_connection_the_database_dropped_is_replaced_before_a_page_uses_it(database_url):
    app = _app(database_url, idle_seconds=0)
    old_pid = _backend_pid(app)
    # The pool's only connection ends on the server's side, as in a database restart.
    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (old_pid,))
    assert app.test_client().get("/login").status_code == 200  # a page that reads the database
    assert _backend_pid(app) != old_pid
    with app.app_context():
        db.engine.dispose()


def test_a_connection_used_a_moment_ago_is_not_pinged_again(database_url, monkeypatch):
    app = _app(database_url, idle_seconds=60)
    with app.app_context():
        engine = db.engine
    pings = []
    real_ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda connection: pings.append(1) or real_ping(connection))
    _backend_pid(app)  # a new connection: pinged once when first handed out
    for _ in range(3):
        _backend_pid(app)
    assert len(pings) == 1
    with app.app_context():
        engine.dispose()
