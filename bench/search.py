"""Search latency over many messages: `python -m bench.search [--postgres] [--messages 1000000]`.

Seeds `--users` users sharing `--messages` messages (one "searcher" owns `--share` of them), words
drawn from a Zipf-like vocabulary so some are rare and some common, plus a "dormant" searcher whose
messages are all older than everyone else's; then times the real search service
(app.chat.search.search) for several query shapes. A database this script seeded before is reused
(`--database-url`). Prints p50/p95/max in ms; `--explain` prints PostgreSQL's plans, `--search-from
FILE` times another version of app/chat/search.py. Numbers are printed, not asserted (SPEC aim: p95
≤ 100 ms on PostgreSQL over 1,000,000 messages)."""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

from bench.common import (
    add_database_arguments,
    database_from_args,
    describe_machine,
    make_app,
    print_table,
    summary_ms,
)

VOCABULARY = 20_000
DORMANT_EMAIL = "search-dormant@example.org"


def word(rank: int) -> str:
    return f"w{rank}x"


def _zipf_cumulative() -> list[float]:
    cumulative, total = [], 0.0
    for rank in range(VOCABULARY):
        total += 1 / (rank + 1)
        cumulative.append(total)
    return cumulative


def uuid7_at(at: datetime, rng: random.Random) -> uuid.UUID:
    """A UUIDv7 stamped with `at` (ids sort like the time they carry, as the app's do)."""
    value = (int(at.timestamp() * 1000) << 80) | (0x7 << 76) | (rng.getrandbits(12) << 64) | (0b10 << 62) \
        | rng.getrandbits(62)
    return uuid.UUID(int=value)


def seed(app, messages: int, users: int, share: float, batch: int = 5000) -> uuid.UUID:
    """Users, one conversation per 50 messages, messages of 8-40 words. Returns the searcher's id."""
    from sqlalchemy import insert, select, text

    from app.auth.models import User
    from app.auth.services import hash_password
    from app.chat.models import Conversation, Message
    from app.extensions import db
    from app.models.base import new_uuid

    rng = random.Random(11)
    cumulative = _zipf_cumulative()
    ranks = range(VOCABULARY)
    now = datetime.now(UTC)
    with app.app_context():
        existing = db.session.execute(select(User.id).where(User.email == "search0@example.org")).scalar()
        if existing is not None:  # --database-url of a database this script seeded before: reuse it
            count = db.session.execute(text("SELECT count(*) FROM nexus_messages")).scalar()
            print(f"# reusing the {count:,} messages already seeded (searcher search0@example.org)")
            return existing
        password = hash_password("bench password")
        user_ids = [new_uuid() for _ in range(users)]
        db.session.execute(insert(User), [
            {"id": uid, "email": f"search{n}@example.org", "display_name": f"Searcher {n}", "hashed_password": password,
             "role": "user", "is_active_account": True, "created_at": now, "updated_at": now}
            for n, uid in enumerate(user_ids)])
        db.session.commit()
        searcher = user_ids[0]
        started = time.perf_counter()
        written = 0
        while written < messages:
            count = min(batch, messages - written)
            conversations, rows = [], []
            for start in range(0, count, 50):
                owner = searcher if rng.random() < share else rng.choice(user_ids[1:] or user_ids)
                conversation_id = new_uuid()
                at = now - timedelta(minutes=written + start)
                conversations.append({"id": conversation_id, "user_id": owner, "title": " ".join(
                    rng.choices([word(r) for r in range(200)], k=3)), "message_count": 50,
                    "last_activity_at": at, "created_at": at, "updated_at": at})
                for n in range(min(50, count - start)):
                    text = " ".join(word(r) for r in rng.choices(ranks, cum_weights=cumulative, k=rng.randint(8, 40)))
                    rows.append({"id": new_uuid(), "conversation_id": conversation_id, "user_id": owner,
                                 "role": "user" if n % 2 == 0 else "assistant", "content": text,
                                 "status": "complete", "created_at": at + timedelta(seconds=n)})
            db.session.execute(insert(Conversation), conversations)
            db.session.execute(insert(Message), rows)
            db.session.commit()
            written += count
        elapsed = time.perf_counter() - started
        print(f"# seeded {messages:,} messages for {users} users in {elapsed:.1f}s ({messages / elapsed:,.0f}/s)")
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE")
                conn.commit()
        return searcher


def seed_dormant(app, messages: int) -> uuid.UUID:
    """A second searcher whose messages are all older than everyone else's (ids stamped three years
    back): the newest-first scan of the whole table would read every other row before reaching
    theirs, which is the plan a search must never take. Added to a reused database when missing."""
    from sqlalchemy import insert, select

    from app.auth.models import User
    from app.auth.services import hash_password
    from app.chat.models import Conversation, Message
    from app.extensions import db

    rng = random.Random(12)
    cumulative = _zipf_cumulative()
    with app.app_context():
        existing = db.session.execute(select(User.id).where(User.email == DORMANT_EMAIL)).scalar()
        if existing is not None:
            return existing
        long_ago = datetime.now(UTC) - timedelta(days=3 * 365)
        user_id = uuid7_at(long_ago, rng)
        db.session.execute(insert(User), [{
            "id": user_id, "email": DORMANT_EMAIL, "display_name": "Dormant searcher",
            "hashed_password": hash_password("bench password"), "role": "user", "is_active_account": True,
            "created_at": long_ago, "updated_at": long_ago}])
        for start in range(0, messages, 5000):
            conversations, rows = [], []
            for first in range(start, min(start + 5000, messages), 50):
                at = long_ago + timedelta(minutes=first)
                conversation_id = uuid7_at(at, rng)
                conversations.append({"id": conversation_id, "user_id": user_id, "title": f"Old thread {first}",
                                      "message_count": 50, "last_activity_at": at, "created_at": at, "updated_at": at})
                for n in range(min(50, messages - first)):
                    content = " ".join(word(r) for r in rng.choices(range(VOCABULARY), cum_weights=cumulative,
                                                                     k=rng.randint(8, 40)))
                    rows.append({"id": uuid7_at(at + timedelta(seconds=n), rng), "conversation_id": conversation_id,
                                 "user_id": user_id, "role": "user" if n % 2 == 0 else "assistant",
                                 "content": content, "status": "complete", "created_at": at + timedelta(seconds=n)})
            db.session.execute(insert(Conversation), conversations)
            db.session.execute(insert(Message), rows)
            db.session.commit()
        print(f"# seeded {messages:,} messages, all older than the rest, for {DORMANT_EMAIL}")
        return user_id


QUERIES = {  # label: (text, the dormant searcher's?)
    "rare word": (word(15_000), False),
    "common word": (word(1), False),
    "two words": (f"{word(5)} {word(40)}", False),  # the last word is being typed: a prefix
    "two whole words": (f'{word(5)} "{word(40)}"', False),  # quoted: no prefix
    "prefix (typing)": ("w123", False),
    "\"phrase\"": (f'"{word(1)} {word(2)}"', False),
    "word -excluded": (f"{word(5)} -{word(1)}", False),
    "a OR b": (f"{word(300)} OR {word(400)}", False),
    "no match": ("zzzzzz", False),
    "common word, dormant user": (word(1), True),
    "two words, dormant user": (f"{word(5)} {word(40)}", True),
}


def load_search(path: str | None):
    """search() of app/chat/search.py, or of another version of that file (before/after runs)."""
    if not path:
        from app.chat.search import search

        return search
    import importlib.util

    spec = importlib.util.spec_from_file_location("search_under_test", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module.search


def time_queries(app, searcher_id, dormant_id, repeat: int, search_from: str | None = None) -> list[list]:
    from app.auth.models import User
    from app.extensions import db

    search = load_search(search_from)
    rows = []
    with app.app_context():
        searchers = {False: db.session.get(User, searcher_id), True: db.session.get(User, dormant_id)}
        for label, (query, dormant) in QUERIES.items():
            timings, found = [], 0
            for _ in range(repeat):
                started = time.perf_counter()
                results = search(searchers[dormant], query)
                timings.append(time.perf_counter() - started)
                found = len(results.messages)
                db.session.rollback()
            stats = summary_ms(timings)
            rows.append([label, query, found, f"{stats['p50']:.1f}", f"{stats['p95']:.1f}", f"{stats['max']:.1f}"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_database_arguments(parser)
    parser.add_argument("--messages", type=int, default=200_000, help="messages in all (default %(default)s)")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--share", type=float, default=0.1, help="the searcher's share of the messages")
    parser.add_argument("--dormant", type=float, default=0.02,
                        help="the dormant searcher's messages, as a share of the others (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--explain", action="store_true", help="print the plan of each PostgreSQL message query")
    parser.add_argument("--search-from", metavar="FILE",
                        help="time this version of app/chat/search.py instead (git show REV:app/chat/search.py > FILE)")
    args = parser.parse_args()
    with database_from_args(args, label="search") as database:
        app = make_app(database.url)
        from app.extensions import db

        searcher_id = seed(app, args.messages, args.users, args.share)
        with app.app_context():
            seeded = db.session.execute(db.text("SELECT count(*) FROM nexus_messages")).scalar()
        dormant_id = seed_dormant(app, int(seeded * args.dormant))
        with app.app_context():
            total = db.session.execute(db.text("SELECT count(*) FROM nexus_messages")).scalar()
            if db.engine.dialect.name == "postgresql":
                # What autovacuum does soon after a bulk load: the GIN pending list is merged into
                # the index and the statistics are fresh. (Searching during a load is slower.)
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.exec_driver_sql("VACUUM ANALYZE nexus_messages")
                    conn.exec_driver_sql("VACUUM ANALYZE nexus_conversations")
            print(describe_machine(db.engine))
        rows = time_queries(app, searcher_id, dormant_id, args.repeat, args.search_from)
        version = f" ({args.search_from})" if args.search_from else ""
        print_table(["query", "text", "hits shown", "p50 ms", "p95 ms", "max ms"], rows,
                    title=f"Search{version} over {total:,} messages on {database.label} "
                          f"(the searcher owns ~{args.share:.0%}, "
                          f"the dormant searcher ~{args.dormant:.0%}, older than all the rest)")
        print(f"# load at the end: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
        if args.explain and database.kind == "postgresql":
            explain(app, searcher_id, dormant_id)


def explain(app, searcher_id, dormant_id) -> None:
    """Each query's probe, the ways chosen, and the plan of each way tried (EXPLAIN ANALYZE)."""
    from app.chat.search import parse_query, postgresql_messages_statement, postgresql_ways
    from app.extensions import db

    with app.app_context():
        for label, (query, dormant) in QUERIES.items():
            user_id, parsed = dormant_id if dormant else searcher_id, parse_query(query)
            ways = postgresql_ways(user_id, parsed)
            print(f"\n# {label} ({query}): ways {ways}")
            for way, walk in ways:
                statement, params = postgresql_messages_statement(user_id, parsed, way, walk)
                plan = db.session.execute(db.text("EXPLAIN (ANALYZE, BUFFERS) " + statement), params).scalars()
                print(f"## {way}\n" + "\n".join("  " + line for line in plan))
                if not db.session.execute(db.text(statement), params).first().stopped_short:
                    break
                print("  (stopped short: the next way answers)")
            db.session.rollback()


if __name__ == "__main__":
    main()
