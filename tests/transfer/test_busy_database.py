"""When another writer holds the database, people are told to try again (503), never shown a 500;
and an import of hostile Markdown never keeps another person's message from being sent."""
from __future__ import annotations

import json
import re
import sqlite3
import time
from contextlib import contextmanager

import httpx
import psycopg
import pytest
from sqlalchemy import event, func, select

from app.chat.models import Conversation, Message
from app.extensions import db
from app.jobs.models import Job
from tests.chat.helpers import composer_token
from tests.factories import PASSWORD, make_user

LOCK_WAIT_MS = 1000  # how long a writer waits for a held lock here (10 s in production)
PATHOLOGICAL_ANSWER = "![" * 16_000  # 32,000 characters: about a second of markdown-it each, unbudgeted


@pytest.fixture
def app(app):
    """The usual app, with writers giving up on a held lock after LOCK_WAIT_MS instead of 10 s."""
    engine = db.engine

    @event.listens_for(engine, "connect")
    def short_lock_wait(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        if engine.dialect.name == "sqlite":
            cursor.execute(f"PRAGMA busy_timeout={LOCK_WAIT_MS}")
        else:
            cursor.execute(f"SET lock_timeout = '{LOCK_WAIT_MS}ms'")
        cursor.close()
        if engine.dialect.name != "sqlite":
            dbapi_connection.commit()

    engine.dispose()
    return app


@contextmanager
def another_writer_holds_the_lock(table: str = Message.__tablename__):
    """A separate connection that holds the write lock (SQLite) or `table` (PostgreSQL)."""
    url = db.engine.url
    if url.get_backend_name() == "sqlite":
        holder = sqlite3.connect(url.database, timeout=0, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
    else:
        holder = psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
        holder.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
    try:
        yield
    finally:
        holder.rollback()
        holder.close()


def send_form(person) -> dict:
    page = person.get("/chat").get_data(as_text=True)
    return {"content": "Hello while someone else writes", "client_request_id": composer_token(page)}


def message_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Message))


def wait_for_answers() -> None:
    """Let the answers the sends started finish before the database goes away."""
    for _ in range(400):
        db.session.expire_all()
        if not db.session.scalar(select(func.count()).select_from(Message).where(Message.status == "streaming")):
            return
        time.sleep(0.05)


@pytest.mark.postgres
def test_a_send_while_the_database_is_locked_says_busy_and_can_be_retried(login_as):
    person = login_as("user")
    form = send_form(person)
    with another_writer_holds_the_lock():
        response = person.post("/chat", form)
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert "Studio is busy, try again in a moment." in response.get_data(as_text=True)
    assert message_count() == 0  # nothing half-written
    retried = person.post("/chat", form)
    assert retried.status_code == 303
    wait_for_answers()


@pytest.mark.postgres
def test_an_htmx_send_while_the_database_is_locked_gets_a_busy_toast(login_as):
    person = login_as("user")
    form = send_form(person)
    with another_writer_holds_the_lock():
        response = person.post("/chat", form, htmx=True)
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    toast = json.loads(response.headers["HX-Trigger"])["toast"]
    assert toast == {"message": "Studio is busy, try again in a moment.", "level": "error"}


@pytest.mark.postgres
def test_an_import_while_the_database_is_locked_says_busy_and_writes_nothing(login_as):
    from io import BytesIO

    person = login_as("user")
    with another_writer_holds_the_lock(Job.__tablename__):  # the upload writes only its job
        response = person.post("/chat/import", {"file": (BytesIO(hostile_export(1)), "studio.json")},
                               content_type="multipart/form-data")
    assert response.status_code == 503
    assert db.session.scalar(select(func.count()).select_from(Conversation)) == 0
    assert db.session.scalar(select(func.count()).select_from(Job)) == 0


# --- over real HTTP: an import of hostile Markdown and someone else's send ---------------------------

def hostile_export(answers: int) -> bytes:
    """A Studio export of `answers` conversations, each answered with 32,000 hostile characters."""
    conversations = [{
        "title": f"Hostile {number}",
        "created_at": "2025-03-01T18:00:00+00:00",
        "messages": [{"role": "user", "content": "Draw me something"},
                     {"role": "assistant", "content": PATHOLOGICAL_ANSWER}],
    } for number in range(answers)]
    return json.dumps({"format": "studio-export", "version": 1, "conversations": conversations}).encode()


class Visitor:
    """A signed-in person with their own cookies, over HTTP."""

    def __init__(self, base_url: str, user):
        self.http = httpx.Client(base_url=base_url, follow_redirects=False, timeout=120)
        token = self._csrf(self.http.get("/login").text)
        signed_in = self.http.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
        assert signed_in.status_code == 303, signed_in.text[:300]

    @staticmethod
    def _csrf(html: str) -> str:
        match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
            r'"X-CSRFToken": "([^"]+)"', html)
        return match.group(1)

    def send(self, text: str) -> httpx.Response:
        page = self.http.get("/chat").text
        return self.http.post("/chat", data={"content": text, "client_request_id": composer_token(page),
                                             "csrf_token": self._csrf(page)})

    def upload(self, data: bytes) -> httpx.Response:
        token = self._csrf(self.http.get("/chat/import").text)
        return self.http.post("/chat/import", data={"csrf_token": token},
                              files={"file": ("studio.json", data, "application/json")})

    def wait_for_import(self, location: str, timeout: float = 120) -> str:
        """The progress page once the import has finished (it stops polling)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            html = self.http.get(location).text
            if "every 1s" not in html:
                return html
            time.sleep(0.2)
        raise AssertionError("the import did not finish")


@pytest.mark.postgres
def test_a_send_succeeds_while_someone_imports_hostile_answers(app, live_server):
    app.config["JOBS_WORKER_THREAD"] = True  # the import runs on the app's worker thread, as in production
    importer, sender = Visitor(live_server, make_user()), Visitor(live_server, make_user())
    uploaded = importer.upload(hostile_export(8))
    assert uploaded.status_code == 303
    sends = []
    # A few sends while the import runs (within the limit of answers generated at once).
    while len(sends) < 3:
        sends.append(sender.send(f"Hello number {len(sends) + 1}").status_code)
        time.sleep(0.2)
    report = importer.wait_for_import(uploaded.headers["Location"])
    assert "Imported 8 conversations" in report
    assert all(200 <= status < 400 for status in sends), sends
    wait_for_answers()
