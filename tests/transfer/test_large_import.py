"""A whole ChatGPT history: a generated 60 MB export of 5,000 conversations, uploaded over HTTP and
imported by `flask jobs work` in its own process, which is killed mid-way and started again. Prints
the upload time, the worker's peak memory, the other person's send time and the throughput.

The whole 60 MB runs on SQLite, the default database (and the one where another person's send must
get past a single writer). On PostgreSQL a fifth of it (1,000 conversations, 12 MB) checks the same kill,
resume, no duplicates and re-import: the streaming reader that keeps memory flat is the same code on
both, so the second 60 MB run cost the suite half a minute and proved nothing new."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.chat.models import Conversation, Message
from app.extensions import db
from app.jobs import runner
from app.jobs.models import Job
from tests.factories import make_user
from tests.transfer.test_busy_database import Visitor, wait_for_answers

REPO = Path(__file__).resolve().parents[2]
CONVERSATIONS = {"sqlite": 5_000, "postgresql": 1_000}
MESSAGES_EACH = 6
BYTES_EACH = 60 * 1024 * 1024 // 5_000  # 60 MB for 5,000 conversations
MB = 1024 * 1024


def chatgpt_conversation(number: int, padding: str) -> dict:
    """One conversation as ChatGPT writes it: a mapping of nodes with their metadata."""
    mapping, parent = {"root": {"id": "root", "message": None, "parent": None, "children": ["m0"]}}, "root"
    for index in range(MESSAGES_EACH):
        role = "user" if index % 2 == 0 else "assistant"
        text = (f"Question {number}.{index}: how would you plan a week of meals on a budget? " * 12 if role == "user"
                else f"Answer {number}.{index}: start with **staples**, then add fresh vegetables. " * 6)
        mapping[f"m{index}"] = {
            "id": f"m{index}", "parent": parent, "children": [f"m{index + 1}"] if index < MESSAGES_EACH - 1 else [],
            "message": {"id": f"m{index}", "author": {"role": role, "name": None, "metadata": {}},
                        "create_time": 1_700_000_000 + number * 100 + index, "update_time": None,
                        "content": {"content_type": "text", "parts": [text]}, "status": "finished_successfully",
                        "end_turn": role == "assistant", "weight": 1.0, "recipient": "all",
                        "metadata": {"model_slug": "gpt-4o", "request_id": f"req-{number}-{index}",
                                     "message_type": None, "citations": [], "padding": padding}}}
        parent = f"m{index}"
    return {"title": f"Imported chat {number}", "create_time": 1_700_000_000 + number * 100,
            "update_time": 1_700_000_000 + number * 100 + 50, "mapping": mapping, "current_node": parent,
            "conversation_id": f"c0ffee00-0000-4000-8000-{number:012d}", "default_model_slug": "gpt-4o",
            "is_archived": False, "moderation_results": [], "safe_urls": []}


def write_export(path: Path, conversations: int) -> Path:
    """An export of `conversations` of about 12 KB each, written one at a time (never whole in memory)."""
    bare = len(json.dumps(chatgpt_conversation(0, "")).encode())
    padding = "·" * max(0, (BYTES_EACH - bare - 2) // (2 * MESSAGES_EACH))  # 2 bytes each
    with path.open("w", encoding="utf-8") as out:
        out.write("[")
        for number in range(conversations):
            out.write(("," if number else "") + json.dumps(chatgpt_conversation(number, padding), ensure_ascii=False))
        out.write("]")
    return path


@pytest.fixture
def big_export(database_url, tmp_path) -> Path:
    """The 60 MB export on SQLite, a fifth of it on PostgreSQL (see the module's docstring)."""
    database = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    return write_export(tmp_path / "conversations.json", CONVERSATIONS[database])


class Worker:
    """`flask jobs work` in its own process, against the test's database; its peak memory sampled."""

    def __init__(self, database_url: str, *args: str):
        env = {**os.environ, "DATABASE_URL": database_url, "STUDIO_JOBS_POLL_SECONDS": "0.2",
               "STUDIO_JOBS_STALE_SECONDS": "3", "STUDIO_JOBS_WORKER_THREAD": "false"}
        self.process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "jobs", "work", *args],
                                        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.peak_kb = 0

    def sample(self) -> None:
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except FileNotFoundError:
            return
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        self.peak_kb = max(self.peak_kb, int(fields.get("VmHWM", "0 kB").split()[0] or 0))

    def kill(self) -> None:
        self.sample()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self.sample()
            time.sleep(0.1)
        if self.process.poll() is None:
            self.process.kill()
            raise AssertionError("the worker did not finish")
        assert self.process.returncode == 0, self.process.stderr.read().decode()[-2000:]


def the_job() -> Job:
    db.session.expire_all()
    job = db.session.scalar(select(Job).order_by(Job.created_at.desc()).limit(1))
    db.session.rollback()
    return job


def count_of(model, user) -> int:
    value = db.session.scalar(select(func.count()).select_from(model).where(model.user_id == user.id))
    db.session.rollback()
    return value


@pytest.mark.postgres
def test_a_60_mb_history_imports_completely_resumes_after_a_kill_and_never_duplicates(
        app, live_server, database_url, big_export):
    app.config.update(JOBS_STALE_SECONDS=3)
    conversations = CONVERSATIONS[db.engine.dialect.name]
    size = big_export.stat().st_size
    owner, sender_user = make_user(), make_user()
    importer, sender = Visitor(live_server, owner), Visitor(live_server, sender_user)
    data = big_export.read_bytes()

    started = time.monotonic()
    uploaded = importer.upload(data)
    upload_seconds = time.monotonic() - started
    assert uploaded.status_code == 303, uploaded.text[:300]
    assert not the_job().is_finished  # answered before any work: the job has not run
    del data

    worker = Worker(database_url)
    send_seconds, import_started = None, time.monotonic()
    while True:
        worker.sample()
        job = the_job()
        assert worker.process.poll() is None, worker.process.stderr.read().decode()[-2000:]
        position = job.progress.get("position", 0)
        if send_seconds is None and position >= conversations // 25:
            before = time.monotonic()
            response = sender.send(f"Hello while a {size // MB} MB import runs")
            send_seconds = time.monotonic() - before
            assert 200 <= response.status_code < 400
        if position >= conversations // 3:
            break
        assert time.monotonic() - import_started < 300, job.progress
        time.sleep(0.1)
    worker.kill()  # mid-way, as a crash would: no cleanup runs
    written_before_kill = count_of(Conversation, owner)
    assert 0 < written_before_kill < conversations and the_job().status == "running"

    time.sleep(3.2)  # its heartbeat goes quiet
    again = importer.upload(big_export.read_bytes())
    assert again.headers["Location"] == uploaded.headers["Location"]  # the same import, resumed
    resumed = Worker(database_url, "--once")
    resumed.wait(timeout=300)
    import_seconds = time.monotonic() - import_started
    job = the_job()
    assert job.status == "succeeded", (job.error, job.progress)
    assert count_of(Conversation, owner) == conversations
    assert count_of(Message, owner) == conversations * MESSAGES_EACH
    distinct = db.session.scalar(select(func.count(func.distinct(Conversation.import_source_id)))
                                 .where(Conversation.user_id == owner.id))
    assert distinct == conversations
    assert job.progress["imported"] == conversations and job.progress["total"] == conversations

    # The same file once more: nothing is added, and the report says why.
    again = importer.upload(big_export.read_bytes())
    assert again.headers["Location"] != uploaded.headers["Location"]
    reimport_started = time.monotonic()
    runner.run_pending()
    reimport_seconds = time.monotonic() - reimport_started
    report = importer.http.get(again.headers["Location"]).text
    assert f"{conversations:,} conversations were already imported" in report
    assert count_of(Conversation, owner) == conversations
    wait_for_answers()

    peak_mb = max(worker.peak_kb, resumed.peak_kb) / 1024
    print(f"\n[{db.engine.dialect.name}] {size / MB:.1f} MB, {conversations:,} conversations: upload answered in "
          f"{upload_seconds:.2f} s; another person's send took {send_seconds:.2f} s; import (killed after "
          f"{written_before_kill:,}, then resumed) {import_seconds:.1f} s; re-import {reimport_seconds:.1f} s; "
          f"worker peak RSS {peak_mb:.0f} MB (the whole process: Python, Flask, SQLAlchemy included)")
    assert peak_mb < 250  # memory does not grow with the file: the whole export is 60 MB on SQLite
