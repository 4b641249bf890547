"""Import throughput: a generated ChatGPT export (5,000 conversations, about 60 MB by default) imported
by the job runner in this process, then imported again (everything already there). Prints
conversations/s and messages/s, the scan and write phases, and the process's peak memory.

    python -m bench.imports [--postgres | --database-url URL] [--conversations 5000] [--megabytes 60]
"""
from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from bench.common import add_database_arguments, database_from_args, describe_machine, engine_of, make_app
from tests.transfer.test_large_import import MESSAGES_EACH, chatgpt_conversation


def write_export(path: Path, conversations: int, megabytes: int) -> None:
    """The export, written a conversation at a time."""
    bare = len(json.dumps(chatgpt_conversation(0, "")).encode())
    padding = "·" * max(0, (megabytes * 1024 * 1024 // conversations - bare - 2) // (2 * MESSAGES_EACH))
    with path.open("w", encoding="utf-8") as out:
        out.write("[")
        for number in range(conversations):
            out.write(("," if number else "") + json.dumps(chatgpt_conversation(number, padding), ensure_ascii=False))
        out.write("]")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_database_arguments(parser)
    parser.add_argument("--conversations", type=int, default=5_000)
    parser.add_argument("--megabytes", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=25)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="studio-imports-") as directory, \
            database_from_args(args, "imports") as database:
        export = Path(directory) / "conversations.json"
        write_export(export, args.conversations, args.megabytes)
        app = make_app(database.url, JOBS_WORKER_THREAD=False, IMPORT_UPLOAD_DIR=directory,
                       IMPORT_BATCH_SIZE=args.batch_size)
        print(f"# {describe_machine(engine_of(app))}")
        size_mb = export.stat().st_size / (1024 * 1024)
        with app.app_context():
            from app.auth import services as auth_services
            from app.extensions import db
            from app.jobs import runner
            from app.transfer import services

            user = auth_services.create_user(f"importer{time.time_ns()}@example.org", "Importer", "bench password 1")
            db.session.commit()
            rows = []
            for label in ("first import", "same file again"):
                before_rss = peak_rss_mb()
                started = time.perf_counter()
                with export.open("rb") as stream:
                    job = services.start_import(user, stream)
                stored = time.perf_counter() - started
                started = time.perf_counter()
                runner.run_pending()
                seconds = time.perf_counter() - started
                db.session.expire_all()
                progress = db.session.get(type(job), job.id).progress
                handled = progress["imported"] + progress["already"]
                messages = progress["messages"] if progress["imported"] else handled * MESSAGES_EACH
                rows.append((label, stored, seconds, handled / seconds, messages / seconds,
                             progress["imported"], progress["already"], before_rss, peak_rss_mb()))
        print(f"\n{database.label}, {size_mb:.1f} MB, {args.conversations:,} conversations of {MESSAGES_EACH} "
              f"messages, batches of {args.batch_size}\n")
        print("| run | store upload s | job s | conversations/s | messages/s | imported | already | "
              "peak RSS before → after (MB) |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        for label, stored, seconds, per_s, messages_per_s, imported, already, before, after in rows:
            print(f"| {label} | {stored:.2f} | {seconds:.1f} | {per_s:,.0f} | {messages_per_s:,.0f} | {imported:,} | "
                  f"{already:,} | {before:.0f} → {after:.0f} |")


if __name__ == "__main__":
    main()
