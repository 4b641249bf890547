"""Fixtures: the app on SQLite (and on PostgreSQL too for tests marked `postgres`), clients, users by
role, a live server, a signed-in browser page, and a query counter. Works under pytest-xdist: each
worker has its own SQLite template, PostgreSQL cluster and Chromium."""
from __future__ import annotations

import contextvars
import itertools
import os
import re
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from flask.testing import FlaskClient
from jinja2 import BytecodeCache
from sqlalchemy import event
from sqlalchemy.util import LRUCache
from werkzeug.serving import make_server

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("STUDIO_ECHO_DELAY", "0.01")
os.environ.setdefault("STUDIO_ECHO_SLOW_DELAY", "0.06")

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from tests.factories import PASSWORD, make_user  # noqa: E402
from tests.pg import TemporaryPostgres, find_pg_bin  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DATABASES = [name.strip() for name in os.environ.get("STUDIO_TEST_DATABASES", "sqlite,postgresql").split(",")
             if name.strip()]
TEST_CONFIG = {
    "TESTING": True,
    "LOGIN_SLOWDOWN_SECONDS": 0.01,
    "PASSWORD_HASH_PARAMS": {"time_cost": 1, "memory_cost": 8, "parallelism": 1},  # cheap argon2id: 8 KiB
    "SERVER_NAME": None,
    "ALLOW_PRIVATE_MODEL_HOSTS": True,  # the fake providers listen on 127.0.0.1
}
_database_numbers = itertools.count(1)


def _share_url_builders() -> None:
    """Each test's app compiles the same ~700 URL rules again, and werkzeug generates and compiles a
    Python function per rule to build its URLs (two thirds of create_app). The generated function
    depends only on the rule's text, its parts and its default names (it reaches the rule's own
    converters through its `self` argument), so one compiled per rule serves every test's app."""
    from werkzeug.routing.rules import Rule

    compile_one = Rule._compile_builder
    compiled: dict[tuple, object] = {}

    def compile_builder(self, append_unknown: bool = True):
        defaults = self.defaults or {}
        if any(is_dynamic and part in defaults for is_dynamic, part in self._trace):
            return compile_one(self, append_unknown)  # a default baked in through the converter
        key = (self.rule, append_unknown, tuple(self._trace), tuple(map(str, defaults)))
        if key not in compiled:
            compiled[key] = compile_one(self, append_unknown)
        return compiled[key]

    Rule._compile_builder = compile_builder


_share_url_builders()


def _migrate(url: str) -> None:
    from flask_migrate import upgrade

    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade(directory=str(REPO / "migrations"))
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite file migrated once; each test gets a copy."""
    path = tmp_path_factory.mktemp("sqlite") / "template.sqlite3"
    _migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_server():
    """The session's PostgreSQL: STUDIO_TEST_PG_URL if given, else a throwaway cluster."""
    given = os.environ.get("STUDIO_TEST_PG_URL")
    if given:
        yield given.rstrip("/")
        return
    bin_dir = find_pg_bin()
    if bin_dir is None:
        pytest.fail("PostgreSQL server binaries not found: install the `postgresql` package "
                    "or set STUDIO_TEST_DATABASES=sqlite")
    server = TemporaryPostgres(bin_dir).start()
    yield server.url
    server.stop()


def _admin_connection(server_url: str):
    return psycopg.connect(server_url.replace("postgresql+psycopg://", "postgresql://") + "/postgres", autocommit=True)


@pytest.fixture(scope="session")
def postgres_template(postgres_server, worker_id) -> str:
    """A database migrated once and used as the template of each test's database."""
    name = f"studio_template_{worker_id}"  # xdist workers may share a server (STUDIO_TEST_PG_URL)
    with _admin_connection(postgres_server) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    _migrate(f"{postgres_server}/{name}")
    return name


class PostgresDatabases:
    """Each test's PostgreSQL database, copied from the template one test ahead and dropped after it,
    both on a background thread: the test does not wait for the copy (~0.1 s each, over 200 tests)."""

    def __init__(self, server: str, template: str):
        self.server, self.template = server, template
        self.background = ThreadPoolExecutor(max_workers=1)  # one at a time: a copy after the drops before it
        self.next = self.background.submit(self._create)

    def _create(self) -> str:
        name = f"studio_test_{os.getpid()}_{next(_database_numbers)}"
        with _admin_connection(self.server) as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {self.template} STRATEGY FILE_COPY")
        return name

    def _drop(self, name: str) -> None:
        with _admin_connection(self.server) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def take(self) -> str:
        """A fresh copy of the template for one test (and the next one started)."""
        name = self.next.result()
        self.next = self.background.submit(self._create)
        return name

    def give_back(self, name: str) -> None:
        self.background.submit(self._drop, name)

    def close(self) -> None:
        self.give_back(self.next.result())
        self.background.shutdown(wait=True)


@pytest.fixture(scope="session")
def postgres_databases(postgres_server, postgres_template):
    databases = PostgresDatabases(postgres_server, postgres_template)
    yield databases
    databases.close()


def databases_for(mark) -> list[str]:
    """The databases a test runs on: all allowed ones when marked `postgres` (only PostgreSQL with
    `postgres(only=True)`), else just one: SQLite when allowed, as most tests do not depend on it."""
    if mark is None:
        return ["sqlite"] if "sqlite" in DATABASES else DATABASES[:1]
    if mark.kwargs.get("only"):
        return [name for name in DATABASES if name == "postgresql"]  # none: the test is skipped
    return DATABASES


def pytest_generate_tests(metafunc):
    """Give `database_url` (and so `app`) one parameter per database the test runs on."""
    if "database_url" in metafunc.fixturenames:
        mark = metafunc.definition.get_closest_marker("postgres")
        metafunc.parametrize("database_url", databases_for(mark), indirect=True)


# The longest tests (10 s to a minute each), slowest first. xdist hands tests out in collection order
# as workers free up; started last, one of these kept a worker busy alone while the other sat idle.
LONGEST_FIRST = (
    "tests/transfer/test_large_import.py",
    "tests/security/test_crafted_input.py::test_every_field_of_every_route",
    "tests/security/test_crafted_input.py::test_no_route_answers_500",
    "tests/browser/test_accessibility.py",
    "tests/chat/test_gunicorn.py",
    "tests/admin/test_admin_console.py::test_roll_ups_equal_the_raw_rows",
    "tests/browser/test_import_flows.py",
    "tests/browser/test_admin_looks.py",
    "tests/projects/test_access_and_gauntlet.py::test_another_users_project_is_404",
    "tests/browser/test_postgres_smoke.py",
)


def pytest_collection_modifyitems(items):
    """The LONGEST_FIRST tests first, in that order; the others keep theirs."""
    def rank(item) -> int:
        return next((number for number, prefix in enumerate(LONGEST_FIRST) if item.nodeid.startswith(prefix)),
                    len(LONGEST_FIRST))

    items.sort(key=rank)


@pytest.fixture
def database_url(request, tmp_path):
    """A fresh, migrated database for one test."""
    if request.param == "sqlite":
        path = tmp_path / "studio.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    databases = request.getfixturevalue("postgres_databases")
    name = databases.take()
    yield f"{databases.server}/{name}"
    databases.give_back(name)


class IsolatedClient(FlaskClient):
    """Runs each request in its own app context, as a real server does (the test keeps its own
    context for factories and checks; sharing one would share `g` and the signed-in user)."""

    def open(self, *args, **kwargs):
        # Buffered: a streamed body is read inside the request's own context.
        kwargs.setdefault("buffered", True)
        response = contextvars.Context().run(super().open, *args, **kwargs)
        db.session.expire_all()  # the test's view of rows the request changed
        return response


class SharedBytecodeCache(BytecodeCache):
    """Compiled templates kept for the whole session, shared by every test's app (a new app
    would otherwise compile each template again). Keyed by template name and source checksum."""

    def __init__(self):
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket):
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket):
        self.compiled[bucket.key] = bucket.bytecode_to_string()


TEMPLATE_CACHE = SharedBytecodeCache()


_SHARED_DIALECTS: dict[str, tuple] = {}


def _share_compiled_sql(engine) -> None:
    """Each test's app has its own engine, whose cache of compiled SQL starts empty: every test compiled
    every statement it ran again (a third of a typical test's time). SQLAlchemy keys that cache by the
    dialect object, so every engine of one database kind gets the first one's dialect, already set up
    by a connection, and its cache (one app keeps one engine for its life, warm like this)."""
    name = engine.dialect.name
    if name not in _SHARED_DIALECTS:
        with engine.connect():  # sets the dialect up from the server (version, capabilities)
            pass
        engine._compiled_cache = LRUCache(10_000)
        _SHARED_DIALECTS[name] = (engine.dialect, engine._compiled_cache)
    engine.dialect, engine._compiled_cache = _SHARED_DIALECTS[name]


@pytest.fixture
def app(database_url):
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": database_url})
    app.jinja_env.bytecode_cache = TEMPLATE_CACHE
    app.test_client_class = IsolatedClient
    with app.app_context():
        _share_compiled_sql(db.engine)
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def csrf_token_of(client, path: str = "/login") -> str:
    """The CSRF token of the client's session, read from a page as a browser would."""
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'"X-CSRFToken": "([^"]+)"', html
    )
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def without_csrf_tokens(response) -> str:
    """The page without its CSRF tokens: they carry the time they were signed, so two answers that are
    otherwise the same differ when a second boundary falls between them."""
    html = response.get_data(as_text=True)
    html = re.sub(r'("X-CSRFToken": ")[^"]+', r"\1", html)
    return re.sub(r'(name="csrf_token" type="hidden" value=")[^"]+', r"\1", html)


def log_in(client, user, password: str = PASSWORD):
    token = csrf_token_of(client, "/login")
    response = client.post("/login", data={"email": user.email, "password": password, "csrf_token": token})
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    return client


class SignedInClient:
    """A test client signed in as `user`, with helpers that send the CSRF token like the pages do."""

    def __init__(self, client, user):
        self.client, self.user = client, user
        self._token = None

    @property
    def csrf_token(self) -> str:
        if self._token is None:
            self._token = csrf_token_of(self.client, "/account")
        return self._token

    def get(self, *args, **kwargs):
        return self.client.get(*args, **kwargs)

    def post(self, path, data=None, htmx: bool = False, **kwargs):
        """A form POST with the CSRF token (in the form, or as htmx sends it: a header)."""
        data = dict(data or {})
        headers = dict(kwargs.pop("headers", {}) or {})
        if htmx:
            headers.update({"HX-Request": "true", "X-CSRFToken": self.csrf_token})
        else:
            data.setdefault("csrf_token", self.csrf_token)
        return self.client.post(path, data=data, headers=headers, **kwargs)


@pytest.fixture
def login_as(app):
    """login_as("admin") → a SignedInClient for a new user of that role."""

    def sign_in(role: str = "user", **user_fields) -> SignedInClient:
        user = make_user(role=role, **user_fields)
        client = app.test_client()
        log_in(client, user)
        return SignedInClient(client, user)

    return sign_in


@contextmanager
def count_queries(app):
    """Collect the SQL statements run inside the block."""
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def live_server(app):
    """The app served over real HTTP on 127.0.0.1 in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium: Playwright cannot download its own browser here."""
    return {
        **browser_type_launch_args,
        "executable_path": os.environ.get("STUDIO_CHROMIUM", "/usr/bin/chromium"),
        "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
    }
