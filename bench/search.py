"""Search latency over many messages: `python -m bench.search [--postgres] [--messages 1000000]`.

Seeds `--users` users sharing `--messages` messages (one "searcher" owns `--share` of them), words
drawn from a Zipf-like vocabulary so some are rare and some common, then times the real search
service (app.chat.search.search) for several query shapes. Prints p50/p95/max in ms and, on
PostgreSQL, the plan of the main query. Numbers are printed, not asserted (SPEC aim: p95 ≤ 100 ms
on PostgreSQL over 1,000,000 messages)."""
from __future__ import annotations

import argparse
import random
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


def word(rank: int) -> str:
    return f"w{rank}x"


def seed(app, messages: int, users: int, share: float, batch: int = 5000) -> uuid.UUID:
    """Users, one conversation per 50 messages, messages of 8-40 words. Returns the searcher's id."""
    from sqlalchemy import insert

    from app.auth.models import User
    from app.auth.services import hash_password
    from app.chat.models import Conversation, Message
    from app.extensions import db
    from app.models.base import new_uuid

    rng = random.Random(11)
    cumulative, total = [], 0.0
    for rank in range(VOCABULARY):
        total += 1 / (rank + 1)
        cumulative.append(total)
    ranks = range(VOCABULARY)
    password = hash_password("bench password")
    now = datetime.now(UTC)
    with app.app_context():
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_database_arguments(parser)
    parser.add_argument("--messages", type=int, default=200_000, help="messages in all (default %(default)s)")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--share", type=float, default=0.1, help="the searcher's share of the messages")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with database_from_args(args, label="search") as database:
        app = make_app(database.url)
        from app.chat.search import search
        from app.extensions import db

        searcher_id = seed(app, args.messages, args.users, args.share)
        with app.app_context():
            print(describe_machine(db.engine))
            searcher = db.session.get(__import__("app.auth.models", fromlist=["User"]).User, searcher_id)
            queries = {"rare word": word(15_000), "common word": word(1), "two words": f"{word(5)} {word(40)}",
                       "prefix (typing)": "w123", "no match": "zzzzzz"}
            rows = []
            for label, query in queries.items():
                timings, found = [], 0
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    results = search(searcher, query)
                    timings.append(time.perf_counter() - started)
                    found = len(results.messages)
                    db.session.rollback()
                stats = summary_ms(timings)
                rows.append([label, query, found, f"{stats['p50']:.1f}", f"{stats['p95']:.1f}", f"{stats['max']:.1f}"])
            print_table(["query", "text", "hits shown", "p50 ms", "p95 ms", "max ms"], rows,
                        title=f"Search over {args.messages:,} messages on {database.label} "
                              f"(the searcher owns ~{args.share:.0%})")
            if db.engine.dialect.name == "postgresql":
                plan = db.session.execute(db.text(
                    "EXPLAIN ANALYZE SELECT m.id FROM nexus_messages m WHERE m.user_id = :u AND "
                    "m.search_vector @@ to_tsquery('simple', :q) ORDER BY ts_rank(m.search_vector, "
                    "to_tsquery('simple', :q)) DESC, m.id DESC LIMIT 21"),
                    {"u": searcher_id, "q": word(1)}).scalars().all()
                print("\n# plan of the common-word query:\n" + "\n".join("  " + line for line in plan))


if __name__ == "__main__":
    main()
