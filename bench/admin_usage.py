"""/admin/usage over a large `model_requests` table: the page reads only the daily roll-ups
(cost_aggregations), so its time should not grow with the calls. Goal: p95 under 200 ms on
PostgreSQL for 1,000,000 calls. Prints; asserts nothing.

    python -m bench.admin_usage [--postgres | --database-url URL] [--rows 1000000] [--requests 40]

Seeds `--rows` calls spread over `--days` days and `--users` people (each using two of eight models,
for chats and titles: up to users x 2 x days x 2 roll-up rows) with one SQL
statement per 100,000 rows (generate_series on PostgreSQL, a recursive CTE on SQLite), rebuilds the
roll-ups with `flask usage rollup`'s function (timed), signs in through /login, then requests the
usage page (30 and 90 days), its CSV and the overview N times each: p50 / p95 / max of the time in
the app (Flask test client) and the SQL statements per request."""
from __future__ import annotations

import argparse
import time

from bench.common import (
    QueryCounter,
    add_database_arguments,
    csrf_token_in,
    database_from_args,
    describe_machine,
    engine_of,
    fmt_ms,
    make_app,
    print_table,
    summary_ms,
)

GOAL_MS = 200.0
PASSWORD = "bench password, not secret"
CHUNK = 100_000
MODELS = [("gpt-4o", "openai"), ("gpt-4o-mini", "openai"), ("o3-mini", "openai"), ("gpt-4.1", "openai"),
          ("claude-sonnet-4", "anthropic"), ("claude-haiku-3.5", "anthropic"), ("claude-opus-4", "anthropic"),
          ("echo", "echo")]


def _case(expression: str, values: list[str]) -> str:
    whens = " ".join(f"WHEN {number} THEN '{value}'" for number, value in enumerate(values))
    return f"CASE {expression} {whens} END"


def _insert_calls(dialect: str, start: int, stop: int, users: int, span_seconds: int) -> str:
    """One INSERT … SELECT of calls start..stop-1: deterministic spread of people, models, days, sizes."""
    # Each person mostly uses two of the eight models.
    model = _case("(m.n + (i % 2) * 3) % 8", [name for name, _ in MODELS])
    provider = _case("(m.n + (i % 2) * 3) % 8", [provider for _, provider in MODELS])
    input_tokens, output_tokens = "(100 + (i * 7919) % 4000)", "(20 + (i * 104729) % 1500)"
    input_cost = f"CAST({input_tokens} AS NUMERIC) * 0.0000025"
    output_cost = f"CAST({output_tokens} AS NUMERIC) * 0.00001"
    columns = ("id, user_id, model_name, provider, task_type, requested_at, responded_at, latency_ms, input_tokens, "
               "output_tokens, cached_input_tokens, total_tokens, input_cost_usd, output_cost_usd, total_cost_usd, "
               "status")
    if dialect == "postgresql":
        new_id, moment = "gen_random_uuid()", f"now() - ((i * 2654435761) % {span_seconds}) * interval '1 second'"
        source = f"generate_series(CAST({start} AS BIGINT), {stop - 1}) AS g(i)"
        prefix = ""
    else:
        new_id = "lower(hex(randomblob(16)))"
        moment = f"strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || ((i * 2654435761) % {span_seconds}) || ' seconds')"
        prefix = f"WITH RECURSIVE seq(i) AS (SELECT {start} UNION ALL SELECT i + 1 FROM seq WHERE i < {stop - 1}) "
        source = "seq"
    return (f"{prefix}INSERT INTO model_requests ({columns}) "
            f"SELECT {new_id}, m.user_id, {model}, {provider}, CASE WHEN i % 10 = 0 THEN 'title' ELSE 'chat' END, "
            f"{moment}, {moment}, 200 + i % 3000, {input_tokens}, {output_tokens}, 0, "
            f"{input_tokens} + {output_tokens}, {input_cost}, {output_cost}, {input_cost} + {output_cost}, "
            f"CASE WHEN i % 37 = 0 THEN 'error' ELSE 'success' END "
            f"FROM {source} JOIN bench_user_map m ON m.n = (i * 31) % {users}")


def seed(app, rows: int, users: int, days: int) -> None:
    """An admin, `users` people and `rows` recorded calls; then the roll-ups, rebuilt and timed."""
    from sqlalchemy import insert, text

    from app.auth import services as auth_services
    from app.auth.models import User
    from app.extensions import db
    from app.models.base import new_uuid
    from app.usage import services as usage

    with app.app_context():
        admin = auth_services.create_user("bench-usage-admin@example.org", "Bench admin", PASSWORD, role="admin")
        db.session.execute(insert(User), [
            {"id": new_uuid(), "email": f"bench-usage-{number:05d}@example.org", "display_name": f"Person {number}",
             "hashed_password": admin.hashed_password, "role": "user", "is_active_account": True}
            for number in range(users)])
        db.session.execute(text("CREATE TABLE bench_user_map (n INTEGER PRIMARY KEY, user_id "
                                + ("UUID" if db.engine.dialect.name == "postgresql" else "CHAR(32)") + ")"))
        db.session.execute(text("INSERT INTO bench_user_map SELECT ROW_NUMBER() OVER (ORDER BY id) - 1, id "
                                "FROM users WHERE email LIKE 'bench-usage-0%'"))
        db.session.commit()
        started = time.perf_counter()
        for start in range(0, rows, CHUNK):
            db.session.execute(text(_insert_calls(db.engine.dialect.name, start, min(rows, start + CHUNK), users,
                                                  days * 86_400)))
            db.session.commit()
            print(f"# {min(rows, start + CHUNK):,} calls seeded ({time.perf_counter() - started:.0f} s)", flush=True)
        db.session.execute(text("DROP TABLE bench_user_map"))
        db.session.commit()
        started = time.perf_counter()
        written = usage.rebuild()
        print(f"# roll-ups rebuilt from {rows:,} calls: {written:,} rows in {time.perf_counter() - started:.1f} s "
              "(flask usage rollup)")
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()


def sign_in(app):
    client = app.test_client()
    token = csrf_token_in(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"email": "bench-usage-admin@example.org", "password": PASSWORD,
                                           "csrf_token": token})
    assert response.status_code == 303, response.status_code
    return client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_database_arguments(parser)
    parser.add_argument("--rows", type=int, default=1_000_000, help="model_requests rows (default 1,000,000)")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--days", type=int, default=120, help="days the calls are spread over")
    parser.add_argument("--requests", type=int, default=40, help="requests per page")
    args = parser.parse_args()

    with database_from_args(args, "admin-usage") as database:
        app = make_app(database.url, RATELIMIT_ENABLED=False)
        print(describe_machine(engine_of(app)))
        seed(app, args.rows, args.users, args.days)
        client = sign_in(app)
        counter = QueryCounter(engine_of(app))
        pages = [("/admin/usage (30 days)", "/admin/usage?days=30"), ("/admin/usage (90 days)", "/admin/usage?days=90"),
                 ("/admin/usage.csv?by=user (30 days)", "/admin/usage.csv?by=user"), ("/admin (overview)", "/admin")]
        table = []
        for label, url in pages:
            client.get(url)  # warm: templates compiled, connection pool filled
            timings, queries = [], 0
            for _ in range(args.requests):
                with counter.counting() as statements:
                    started = time.perf_counter()
                    response = client.get(url)
                    response.get_data()
                    timings.append(time.perf_counter() - started)
                assert response.status_code == 200, (url, response.status_code)
                queries = len(statements)
            summary = summary_ms(timings)
            table.append([label, fmt_ms(summary["p50"]), fmt_ms(summary["p95"]), fmt_ms(summary["max"]), queries,
                          "yes" if summary["p95"] < GOAL_MS else "no"])
        counter.close()
        print_table(["page", "p50 ms", "p95 ms", "max ms", "SQL / request", f"p95 < {GOAL_MS:.0f} ms"], table,
                    title=f"{database.label}: {args.rows:,} model_requests, {args.users} people, {args.days} days, "
                          f"{args.requests} requests per page")


if __name__ == "__main__":
    main()
