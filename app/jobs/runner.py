"""The one job runner: domains register kinds, requests enqueue jobs, workers claim and run them.

A worker claims a job with `FOR UPDATE SKIP LOCKED` on PostgreSQL and a guarded UPDATE (which only
one writer can win) on SQLite, beats a heartbeat while it works, and records progress on the row. A
job whose heartbeat goes quiet (its process was killed) is claimed again by the next worker and
counts as another attempt; a handler that raises is retried after a backoff until `max_attempts`.
Cancelling sets a flag the handler reads between steps; what it wrote stays.

Workers: a thread inside the app, started lazily by `wake()` (never at create_app time), or
`flask jobs work` in separate processes. Tests call `run_pending()` to run jobs synchronously."""
from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask, current_app
from sqlalchemy import and_, or_, select, update

from app.extensions import db
from app.jobs.models import Job
from app.models.base import utcnow

log = logging.getLogger(__name__)

HANDLERS: dict[str, Callable[[JobContext], dict | None]] = {}


class JobCancelled(Exception):
    """Raised by a handler (through JobContext.check_cancelled) when its job was cancelled."""


class JobLost(Exception):
    """This worker no longer holds the job (its heartbeat went quiet and another worker took it)."""


class WorkerStopping(Exception):
    """The worker is shutting down: the job goes back to the queue and resumes from its progress."""


def register(kind: str):
    """Decorator: `fn(context)` runs jobs of `kind`; it may return a dict merged into the progress."""
    def decorate(fn):
        HANDLERS[kind] = fn
        return fn
    return decorate


def enqueue(kind: str, payload: dict, *, user=None, dedupe_key: str | None = None,
            progress: dict | None = None, max_attempts: int = 3) -> Job:
    """Add a queued job to the current transaction; the caller commits, then calls `wake()`."""
    job = Job(kind=kind, payload=payload, user_id=user.id if user else None, dedupe_key=dedupe_key,
              progress=progress or {}, max_attempts=max_attempts, status="queued", run_after=utcnow())
    db.session.add(job)
    db.session.flush()
    return job


def get_job_for(user, job_id: uuid.UUID, kind: str) -> Job | None:
    """The user's job of that kind, or None (someone else's job is as good as missing)."""
    return db.session.scalar(select(Job).where(Job.id == job_id, Job.kind == kind, Job.user_id == user.id))


def request_cancel(job: Job) -> None:
    """Ask the job to stop; a queued job stops at once. Part of the caller's transaction."""
    if job.is_finished:
        return
    if job.status == "queued":
        job.status, job.finished_at = "cancelled", utcnow()
        job.progress = {**(job.progress or {}), "cancelled": True}
    job.is_cancel_requested = True


def requeue(job: Job) -> None:
    """Start an unfinished job again (it resumes from its progress). Part of the caller's transaction."""
    job.status, job.run_after, job.locked_by, job.heartbeat_at = "queued", utcnow(), None, None
    job.is_cancel_requested, job.error = False, None
    job.attempts = 0
    job.finished_at = None


def is_stale(job: Job) -> bool:
    """Running, but its worker has not beaten its heartbeat for longer than JOBS_STALE_SECONDS."""
    limit = utcnow() - timedelta(seconds=current_app.config["JOBS_STALE_SECONDS"])
    return job.status == "running" and (job.heartbeat_at is None or job.heartbeat_at < limit)


# --- claiming and running --------------------------------------------------------------------------

def _claimable(now, stale_before):
    return or_(and_(Job.status == "queued", Job.run_after <= now),
               and_(Job.status == "running", or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < stale_before)))


def claim(worker_id: str) -> Job | None:
    """Take the oldest job that is waiting (or whose worker went quiet); None when there is none."""
    now = utcnow()
    stale_before = now - timedelta(seconds=current_app.config["JOBS_STALE_SECONDS"])
    query = select(Job.id).where(_claimable(now, stale_before), Job.kind.in_(list(HANDLERS)))
    query = query.order_by(Job.run_after).limit(1)
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    try:
        job_id = db.session.scalar(query)
        if job_id is None:
            db.session.rollback()
            return None
        # Only one claimer's UPDATE finds the row still claimable (SQLite has one writer at a time).
        claimed = db.session.execute(
            update(Job).where(Job.id == job_id, _claimable(now, stale_before))
            .values(status="running", locked_by=worker_id, locked_at=now, heartbeat_at=now,
                    attempts=Job.attempts + 1, started_at=db.func.coalesce(Job.started_at, now), updated_at=now)
            .execution_options(synchronize_session=False)).rowcount
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return db.session.get(Job, job_id, populate_existing=True) if claimed == 1 else None


@dataclass
class JobContext:
    """What a handler gets: its job's id, payload and last saved progress, and ways to report."""

    job_id: uuid.UUID
    kind: str
    user_id: uuid.UUID | None
    payload: dict
    progress: dict
    attempts: int
    worker_id: str
    stopping: threading.Event | None = None

    def save_progress(self, progress: dict, commit: bool = True) -> None:
        """Record progress and beat the heartbeat, in the current transaction (committed by default,
        so a handler can make it part of its own batch). Raises JobLost if another worker took over."""
        self.progress = progress
        now = utcnow()
        updated = db.session.execute(
            update(Job).where(Job.id == self.job_id, Job.locked_by == self.worker_id, Job.status == "running")
            .values(progress=progress, heartbeat_at=now, updated_at=now)
            .execution_options(synchronize_session=False)).rowcount
        if updated != 1:
            db.session.rollback()
            raise JobLost(str(self.job_id))
        if commit:
            db.session.commit()

    def heartbeat(self) -> None:
        """Tell other workers this job is still alive (for long steps that write nothing)."""
        self.save_progress(self.progress)

    def is_cancel_requested(self) -> bool:
        flag = db.session.scalar(select(Job.is_cancel_requested).where(Job.id == self.job_id))
        db.session.rollback()  # end the read: never hold a snapshot between batches
        return bool(flag)

    def check_cancelled(self) -> None:
        """Raise JobCancelled when the job was cancelled (WorkerStopping when the worker is stopping)."""
        if self.stopping is not None and self.stopping.is_set():
            raise WorkerStopping(str(self.job_id))
        if self.is_cancel_requested():
            raise JobCancelled(str(self.job_id))


def _finish(job_id, worker_id: str, **values) -> None:
    now = utcnow()
    db.session.execute(update(Job).where(Job.id == job_id, Job.locked_by == worker_id)
                       .values(locked_by=None, updated_at=now, **values)
                       .execution_options(synchronize_session=False))
    db.session.commit()


def run_job(job: Job, worker_id: str, stopping: threading.Event | None = None) -> str:
    """Run one claimed job to its end (or its next retry) and return the status it was left in."""
    handler = HANDLERS[job.kind]
    context = JobContext(job.id, job.kind, job.user_id, dict(job.payload or {}), dict(job.progress or {}),
                         job.attempts, worker_id, stopping)
    job_id, attempts, max_attempts = job.id, job.attempts, job.max_attempts
    db.session.rollback()
    try:
        if attempts > max_attempts:
            raise RuntimeError(f"it stopped {attempts - 1} times without finishing")
        result = handler(context) or {}
    except JobCancelled:
        db.session.rollback()
        _finish(job_id, worker_id, status="cancelled", finished_at=utcnow(),
                progress={**context.progress, "cancelled": True})
        _on_finished(context, "cancelled")
        return "cancelled"
    except WorkerStopping:
        db.session.rollback()
        _finish(job_id, worker_id, status="queued", attempts=Job.attempts - 1)
        return "queued"
    except JobLost:
        db.session.rollback()
        log.warning("job %s was taken over by another worker", job_id)
        return "lost"
    except Exception as error:
        db.session.rollback()
        log.exception("job %s (%s) failed on attempt %s", job_id, context.kind, attempts)
        if attempts < max_attempts:
            wait = current_app.config["JOBS_RETRY_BASE_SECONDS"] * 2 ** (attempts - 1)
            _finish(job_id, worker_id, status="queued", error=_error_text(error),
                    run_after=utcnow() + timedelta(seconds=wait))
            return "queued"
        _finish(job_id, worker_id, status="failed", error=_error_text(error), finished_at=utcnow())
        _on_finished(context, "failed")
        return "failed"
    _finish(job_id, worker_id, status="succeeded", finished_at=utcnow(), error=None,
            progress={**context.progress, **result})
    _on_finished(context, "succeeded")
    return "succeeded"


FINISHERS: dict[str, Callable[[JobContext, str], None]] = {}


def on_finished(kind: str):
    """Decorator: `fn(context, status)` runs once a job of `kind` has succeeded, failed for good or been
    cancelled (cleanup such as deleting an uploaded file)."""
    def decorate(fn):
        FINISHERS[kind] = fn
        return fn
    return decorate


def _on_finished(context: JobContext, status: str) -> None:
    finisher = FINISHERS.get(context.kind)
    if finisher:
        try:
            finisher(context, status)
        except Exception:
            log.exception("cleanup of job %s failed", context.job_id)


def _error_text(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:2000]


def new_worker_id(label: str = "worker") -> str:
    return f"{label}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def run_pending(worker_id: str | None = None, limit: int | None = None,
                stopping: threading.Event | None = None) -> int:
    """Run waiting jobs in this thread until none is left (or `limit` ran); returns how many ran.
    Needs an app context. Tests use it to run a job synchronously."""
    worker_id = worker_id or new_worker_id("inline")
    count = 0
    while (limit is None or count < limit) and not (stopping and stopping.is_set()):
        job = claim(worker_id)
        if job is None:
            break
        run_job(job, worker_id, stopping)
        count += 1
    return count


# --- the worker thread inside the app --------------------------------------------------------------

class WorkerThread(threading.Thread):
    """Runs jobs for one app until stopped; sleeps on an event that `wake()` sets."""

    def __init__(self, app: Flask):
        super().__init__(name="studio-jobs", daemon=True)
        self.app, self.woken, self.stopping = app, threading.Event(), threading.Event()
        self.worker_id = new_worker_id("thread")

    def run(self) -> None:
        with self.app.app_context():
            poll = self.app.config["JOBS_POLL_SECONDS"]
            while not self.stopping.is_set():
                try:
                    ran = run_pending(self.worker_id, stopping=self.stopping)
                except Exception:
                    log.exception("the job worker thread hit an error; trying again shortly")
                    db.session.rollback()
                    ran = 0
                finally:
                    db.session.remove()
                if not ran:
                    self.woken.wait(poll)
                    self.woken.clear()


_threads_lock = threading.Lock()


def wake(app: Flask | None = None) -> None:
    """Make sure this process works on queued jobs: start the app's worker thread the first time
    (when JOBS_WORKER_THREAD is on), else nudge it. Safe to call from any request."""
    app = app or current_app._get_current_object()
    if not app.config["JOBS_WORKER_THREAD"]:
        return
    with _threads_lock:
        thread = app.extensions.get("jobs_worker")
        if thread is None or not thread.is_alive():
            thread = WorkerThread(app)
            app.extensions["jobs_worker"] = thread
            thread.start()
    thread.woken.set()


def stop_worker(app: Flask, timeout: float = 30) -> None:
    """Stop the app's worker thread (after its current job) and wait for it."""
    thread = app.extensions.pop("jobs_worker", None)
    if thread is not None:
        thread.stopping.set()
        thread.woken.set()
        thread.join(timeout)
