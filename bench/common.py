"""Shared plumbing of the benchmarks: which database (a fresh SQLite file, a throwaway PostgreSQL
cluster, or a given URL), migrating it, building the app, counting SQL, percentiles and tables."""
from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "bench-secret-key-not-for-production")

REPO = Path(__file__).resolve().parent.parent
MIGRATIONS = REPO / "migrations"
BENCH_DB_NAME = "studio_bench"


# --- databases -----------------------------------------------------------------------------------

def normalize_url(url: str) -> str:
    """The URL forms build_config() accepts (postgres:// and postgresql:// mean psycopg 3)."""
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def add_database_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--database-url", help="use this database (migrated if needed) instead of a fresh one")
    group.add_argument("--postgres", action="store_true",
                       help="start a throwaway PostgreSQL cluster (tests/pg.py) and benchmark on it")
    parser.add_argument("--keep", action="store_true", help="keep the fresh SQLite file made for this run")


def _pg_admin_connect(server_url: str, database: str = "postgres"):
    import psycopg

    return psycopg.connect(server_url.replace("postgresql+psycopg://", "postgresql://") + "/" + database,
                           autocommit=True)


def _split_pg_url(url: str) -> tuple[str, str]:
    """'postgresql+psycopg://u@h:p/db?x' → ('postgresql+psycopg://u@h:p', 'db')."""
    match = re.fullmatch(r"(postgresql\+psycopg://[^/]+)/([^?]+)(\?.*)?", url)
    if not match:
        raise SystemExit(f"cannot read the database name in {url!r}")
    return match.group(1), match.group(2)


@dataclass
class Database:
    """Where the benchmark runs, and how to make another fresh database of the same kind."""

    url: str
    kind: str  # sqlite | postgresql
    fresh: bool  # made by this run (so certainly empty before seeding)
    _pg_server: str | None = None
    _cleanups: list[Callable[[], None]] = field(default_factory=list)

    def sibling(self, name: str) -> Database:
        """Another fresh, migrated database of the same kind (for the small-data comparison)."""
        if self.kind == "sqlite":
            directory = tempfile.mkdtemp(prefix="studio-bench-")
            self._cleanups.append(lambda: shutil.rmtree(directory, ignore_errors=True))
            url = f"sqlite:///{directory}/{name}.sqlite3"
        else:
            server = self._pg_server or _split_pg_url(self.url)[0]
            database = f"{BENCH_DB_NAME}_{name}_{os.getpid()}"
            with _pg_admin_connect(server) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {database}")
                conn.execute(f"CREATE DATABASE {database}")

            def drop(server=server, database=database):
                with _pg_admin_connect(server) as conn:
                    conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")

            self._cleanups.append(drop)
            url = f"{server}/{database}"
        migrate(url)
        return Database(url, self.kind, True, self._pg_server)

    @property
    def label(self) -> str:
        return "SQLite" if self.kind == "sqlite" else "PostgreSQL"


@contextmanager
def database_from_args(args: argparse.Namespace, label: str = "bench") -> Iterator[Database]:
    """The run's database, migrated: --database-url, --postgres (a throwaway cluster) or a fresh
    SQLite file under /tmp. Temporary things are removed on the way out (unless --keep)."""
    cleanups: list[Callable[[], None]] = []
    database = None
    try:
        if args.database_url:
            url = normalize_url(args.database_url)
            kind = "sqlite" if url.startswith("sqlite") else "postgresql"
            database = Database(url, kind, fresh=False)
        elif args.postgres:
            from tests.pg import TemporaryPostgres, find_pg_bin

            bin_dir = find_pg_bin()
            if bin_dir is None:
                raise SystemExit("PostgreSQL server binaries not found (apt-get install postgresql)")
            server = TemporaryPostgres(bin_dir).start()
            cleanups.append(server.stop)
            with _pg_admin_connect(server.url) as conn:
                conn.execute(f"CREATE DATABASE {BENCH_DB_NAME}")
            database = Database(f"{server.url}/{BENCH_DB_NAME}", "postgresql", fresh=True, _pg_server=server.url)
            print(f"# PostgreSQL: throwaway cluster at {server.url} (fsync=off, synchronous_commit=off)")
        else:
            directory = tempfile.mkdtemp(prefix=f"studio-{label}-")
            url = f"sqlite:///{directory}/studio.sqlite3"
            if args.keep:
                print(f"# SQLite file kept: {directory}/studio.sqlite3")
            else:
                cleanups.append(lambda: shutil.rmtree(directory, ignore_errors=True))
            database = Database(url, "sqlite", fresh=True)
        started = time.perf_counter()
        migrate(database.url)
        print(f"# {database.label}: migrated in {time.perf_counter() - started:.1f} s")
        yield database
    finally:
        # Siblings first (their PostgreSQL databases live in the cluster stopped last).
        for cleanup in [*reversed(database._cleanups if database else []), *reversed(cleanups)]:
            try:
                cleanup()
            except Exception as error:  # noqa: BLE001 - leftovers must not hide the numbers printed
                print(f"# cleanup failed: {error}")


def describe_machine(engine=None) -> str:
    """Date, CPUs, load and versions: numbers from a busy machine read differently."""
    import platform
    import sqlite3
    from datetime import date

    parts = [str(date.today()), f"{os.cpu_count()} CPUs", "load " + " ".join(f"{v:.1f}" for v in os.getloadavg()),
             f"Python {platform.python_version()}", f"SQLite {sqlite3.sqlite_version}"]
    if engine is not None and engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            parts.append("PostgreSQL " + conn.exec_driver_sql("SHOW server_version").scalar().split()[0])
    return "# " + ", ".join(parts)


def migrate(url: str) -> None:
    """Bring the database to the latest migration (the schema comes only from migrations/)."""
    import logging

    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade(directory=str(MIGRATIONS))
        db.engine.dispose()
    logging.getLogger("alembic").setLevel(logging.WARNING)  # env.py's fileConfig turned INFO on


def make_app(url: str, **overrides):
    from app import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, **overrides})


def engine_of(app):
    from app.extensions import db

    with app.app_context():
        return db.engine


# --- measuring -----------------------------------------------------------------------------------

class QueryCounter:
    """Counts the SQL statements an engine runs (a `before_cursor_execute` listener), optionally only
    those run on one thread or passing a filter."""

    def __init__(self, engine, accept: Callable[[], bool] | None = None):
        from sqlalchemy import event

        self.engine, self.accept = engine, accept
        self.statements: list[str] = []
        self.parameters: list = []  # of each statement, for EXPLAIN
        self._lock = threading.Lock()
        self._active = False
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, parameters, context, executemany):
        if self._active and (self.accept is None or self.accept()):
            with self._lock:
                self.statements.append(statement)
                self.parameters.append(parameters)

    @contextmanager
    def counting(self) -> Iterator[list[str]]:
        with self._lock:
            self.statements, self.parameters = [], []
        self._active = True
        try:
            yield self.statements
        finally:
            self._active = False

    def close(self) -> None:
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._record)


def explain(engine, statement: str, parameters) -> list[str]:
    """The plan of one captured SELECT, as the database would run it with these parameters."""
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(prefix + statement, parameters).all()
    if engine.dialect.name == "sqlite":
        return [row[3] for row in rows]
    return [row[0] for row in rows]


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {"p50": percentile(ms, 50), "p95": percentile(ms, 95), "max": max(ms), "n": len(ms)}


def print_table(headers: list[str], rows: list[list], title: str | None = None) -> None:
    """A Markdown table, so it pastes straight into bench/README.md."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    if title:
        print(f"\n{title}\n")
    for number, row in enumerate(cells):
        print("| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |")
        if number == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def shorten_sql(statement: str, limit: int = 160) -> str:
    """One line, the SELECT list elided (the FROM / WHERE / ORDER BY are what tell queries apart)."""
    text = " ".join(statement.split())
    text = re.sub(r"^SELECT (?:(?!\bFROM\b).)+? FROM ", "SELECT … FROM ", text)
    return text if len(text) <= limit else text[:limit] + "…"


# --- reading pages -------------------------------------------------------------------------------

CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
CSRF_HEADER = re.compile(r'"X-CSRFToken": "([^"]+)"')
CLIENT_REQUEST_ID = re.compile(r'name="client_request_id" type="hidden" value="([^"]+)"')
SSE_CONNECT = re.compile(r'sse-connect="([^"]+)"')


def csrf_token_in(page: str) -> str:
    match = CSRF_FIELD.search(page) or CSRF_HEADER.search(page)
    if not match:
        raise RuntimeError("no CSRF token in the page")
    return match.group(1)


def selected_model_id(page: str) -> str | None:
    """The composer's preselected model (the <select name="model_id">)."""
    select = re.search(r'<select[^>]*name="model_id"[^>]*>(.*?)</select>', page, re.DOTALL)
    if not select:
        return None
    option = re.search(r'<option selected value="([^"]+)"', select.group(1)) or re.search(
        r'<option[^>]*value="([^"]+)"[^>]*selected', select.group(1)) or re.search(
        r'<option[^>]*value="([^"]+)"', select.group(1))
    return option.group(1) if option else None


def fmt_ms(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"
