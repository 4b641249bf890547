"""The sidebar of a user with many conversations in many folders:
`python -m bench.folders [--postgres] [--conversations 10000] [--folders 200]`.

Seeds one user with `--folders` folders (a third of them nested one level) holding `--conversations`
conversations (a tenth outside any folder), every folder open, then times /chat and /chat/sidebar
through the real routes and counts SQL statements per request. Numbers are printed, not asserted
(SPEC aim: sidebar p95 ≤ 50 ms with a constant number of queries)."""
from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta

from bench.common import (
    QueryCounter,
    add_database_arguments,
    database_from_args,
    describe_machine,
    engine_of,
    make_app,
    print_table,
    summary_ms,
)
from bench.pages import sign_in

PASSWORD = "bench password"


def seed(app, conversations: int, folders: int) -> str:
    """One user, their folders and conversations, written in bulk. Returns the user's e-mail."""
    from sqlalchemy import insert

    from app.auth.models import User
    from app.auth.services import hash_password
    from app.chat.models import Conversation
    from app.extensions import db
    from app.folders.models import Folder
    from app.models.base import new_uuid

    rng = random.Random(5)
    now = datetime.now(UTC)
    with app.app_context():
        user_id = new_uuid()
        db.session.execute(insert(User), [{"id": user_id, "email": "folders@example.org", "display_name": "Folder fan",
                                           "hashed_password": hash_password(PASSWORD), "role": "user",
                                           "is_active_account": True, "created_at": now, "updated_at": now}])
        top_level = folders - folders // 3
        folder_ids = [new_uuid() for _ in range(folders)]
        rows = []
        for n, folder_id in enumerate(folder_ids):
            parent = folder_ids[rng.randrange(top_level)] if n >= top_level else None
            rows.append({"id": folder_id, "user_id": user_id, "parent_id": parent, "name": f"Folder {n:03d}",
                         "color": "blue", "icon": "folder", "sort_order": n * 10, "is_expanded": True,
                         "created_at": now, "updated_at": now})
        db.session.execute(insert(Folder), rows)
        batch = []
        for n in range(conversations):
            at = now - timedelta(minutes=n)
            batch.append({"id": new_uuid(), "user_id": user_id, "title": f"Conversation {n}",
                          "folder_id": None if n % 10 == 0 else rng.choice(folder_ids), "is_pinned": n % 97 == 0,
                          "last_activity_at": at, "created_at": at, "updated_at": at})
            if len(batch) == 5000:
                db.session.execute(insert(Conversation), batch)
                batch = []
        if batch:
            db.session.execute(insert(Conversation), batch)
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE")
                conn.commit()
    return "folders@example.org"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_database_arguments(parser)
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--folders", type=int, default=200)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    with database_from_args(args, label="folders") as database:
        app = make_app(database.url)
        started = time.perf_counter()
        email = seed(app, args.conversations, args.folders)
        elapsed = time.perf_counter() - started
        print(f"# seeded {args.conversations:,} conversations in {args.folders} folders in {elapsed:.1f}s")
        engine = engine_of(app)
        print(describe_machine(engine))
        client = sign_in(app, email, PASSWORD)
        counter = QueryCounter(engine)
        rows = []
        for label, path in [("/chat (whole page)", "/chat"), ("/chat/sidebar (the list)", "/chat/sidebar")]:
            for _ in range(3):
                client.get(path)
            timings, queries, size = [], 0, 0
            for _ in range(args.requests):
                with counter.counting() as statements:
                    began = time.perf_counter()
                    response = client.get(path)
                    timings.append(time.perf_counter() - began)
                queries, size = len(statements), len(response.data)
                assert response.status_code == 200, response.status_code
            stats = summary_ms(timings)
            rows.append([label, f"{stats['p50']:.1f}", f"{stats['p95']:.1f}", queries, f"{size / 1024:.0f} KB"])
        print_table(["page", "p50 ms", "p95 ms", "SQL", "size"], rows,
                    title=f"Sidebar with {args.conversations:,} conversations in {args.folders} folders, "
                          f"all open, on {database.label}")


if __name__ == "__main__":
    main()
