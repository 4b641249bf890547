"""Under gevent (README's production workers) a greenlet waiting on PostgreSQL lets the others run:
psycopg 3 sees the monkeypatched sockets and waits cooperatively, so slow queries of different
requests and streams overlap instead of queueing behind each other."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers.servers import REPO

pytestmark = pytest.mark.postgres(only=True)

# What a gevent worker does: patch first, then import the database driver (gunicorn's worker patches
# before loading the app), and query through a SQLAlchemy pool as the app's engine does.
SCRIPT = """
from gevent import monkey
monkey.patch_all()
import sys, time
import gevent
from sqlalchemy import create_engine, text

engine = create_engine(sys.argv[1], pool_pre_ping=True)
ticks = []

def slow_query():
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_sleep(0.4)"))

def ticker():
    while True:
        gevent.sleep(0.02)
        ticks.append(time.monotonic())

with engine.connect() as connection:  # connect once, so the timing below is the queries'
    connection.execute(text("SELECT 1"))
ticking = gevent.spawn(ticker)
started = time.monotonic()
gevent.joinall([gevent.spawn(slow_query) for _ in range(4)], raise_error=True)
elapsed = time.monotonic() - started
ticking.kill()
print(f"{elapsed:.3f} {len(ticks)}")
"""


def test_slow_queries_of_different_greenlets_overlap_under_gevent(database_url):
    result = subprocess.run([sys.executable, "-c", SCRIPT, database_url], cwd=REPO, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    elapsed, ticks = result.stdout.split()
    # Four 0.4 s queries one after another would take 1.6 s; together they take one query's time...
    assert float(elapsed) < 1.2
    # ...and the hub kept running other greenlets meanwhile (a 20 ms ticker, ~20 ticks in 0.4 s).
    assert int(ticks) >= 8
