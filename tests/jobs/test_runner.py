"""The job runner: one worker per job, progress on the row, retries, a quiet worker's job taken over,
cancelling, and the app's worker thread started only when there is work."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from app.extensions import db
from app.jobs import runner
from app.jobs.models import Job
from app.models.base import utcnow

pytestmark = pytest.mark.postgres  # claiming differs: FOR UPDATE SKIP LOCKED vs a guarded UPDATE

RUNS: list[dict] = []


@runner.register("test-count")
def count_to(context: runner.JobContext) -> dict:
    """A job that counts in steps, saving progress, failing when asked to, cancellable between steps."""
    RUNS.append({"attempt": context.attempts, "from": context.progress.get("done", 0)})
    for done in range(context.progress.get("done", 0) + 1, context.payload["to"] + 1):
        context.check_cancelled()
        if done == context.payload.get("fail_at") and context.attempts == 1:
            raise RuntimeError("a passing failure")
        context.save_progress({"done": done})
    return {"finished": True}


@pytest.fixture(autouse=True)
def quick_retries(app):
    app.config.update(JOBS_RETRY_BASE_SECONDS=0, JOBS_WORKER_THREAD=False)
    RUNS.clear()
    yield
    runner.stop_worker(app)


def queued(**payload) -> Job:
    job = runner.enqueue("test-count", payload)
    db.session.commit()
    return job


def reloaded(job: Job) -> Job:
    db.session.expire_all()
    return db.session.get(Job, job.id)


def test_a_job_runs_once_and_keeps_its_progress_on_the_row(app):
    job = queued(to=3)
    assert runner.run_pending() == 1
    job = reloaded(job)
    assert job.status == "succeeded" and job.progress == {"done": 3, "finished": True}
    assert job.attempts == 1 and job.started_at and job.finished_at and job.locked_by is None
    assert runner.run_pending() == 0


def test_only_one_worker_claims_a_job(app):
    queued(to=1)
    first, second = runner.claim("worker-a"), runner.claim("worker-b")
    assert first is not None and second is None


def test_a_failed_attempt_is_retried_and_resumes_from_its_progress(app):
    job = queued(to=4, fail_at=3)
    runner.run_pending()
    job = reloaded(job)
    assert job.status == "succeeded" and job.attempts == 2 and "a passing failure" not in (job.error or "")
    assert RUNS == [{"attempt": 1, "from": 0}, {"attempt": 2, "from": 2}]


def test_a_job_failing_every_time_stops_after_its_attempts(app):
    job = runner.enqueue("test-count", {"to": 2, "fail_at": 1}, max_attempts=1)
    db.session.commit()
    runner.run_pending()
    job = reloaded(job)
    assert job.status == "failed" and "a passing failure" in job.error


def test_a_job_whose_worker_went_quiet_is_taken_over(app):
    app.config["JOBS_STALE_SECONDS"] = 60
    job = queued(to=2)
    assert runner.claim("a-worker-that-dies") is not None
    assert runner.claim("another") is None  # its heartbeat is fresh
    db.session.execute(update(Job).values(heartbeat_at=utcnow() - timedelta(seconds=61)))
    db.session.commit()
    assert runner.run_pending("another") == 1
    job = reloaded(job)
    assert job.status == "succeeded" and job.attempts == 2


def test_a_worker_that_lost_its_job_stops_writing_progress(app):
    queued(to=1)
    claimed = runner.claim("slow")
    db.session.execute(update(Job).values(locked_by="someone-else"))
    db.session.commit()
    context = runner.JobContext(claimed.id, "test-count", None, {}, {}, 1, "slow")
    with pytest.raises(runner.JobLost):
        context.save_progress({"done": 1})


def test_cancelling_stops_a_running_job_between_steps(app):
    job = queued(to=5)
    runner.request_cancel(reloaded(job))
    db.session.commit()
    assert reloaded(job).status == "cancelled"  # a waiting job stops at once
    other = queued(to=5)
    claimed = runner.claim("w")
    db.session.execute(update(Job).where(Job.id == other.id).values(is_cancel_requested=True))
    db.session.commit()
    assert runner.run_job(claimed, "w") == "cancelled"
    assert reloaded(other).progress.get("cancelled") is True


def test_the_worker_thread_starts_only_when_woken_and_runs_queued_jobs(app):
    assert "jobs_worker" not in app.extensions  # create_app started nothing
    app.config["JOBS_WORKER_THREAD"] = True
    job = queued(to=2)
    runner.wake(app)
    deadline = time.monotonic() + 20
    while reloaded(job).status != "succeeded" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reloaded(job).status == "succeeded"
