"""Runs in the background (surviving a reload, taken over after a worker dies, cancelled), findings
resolved and reopened, checkpoints rolled back to exact bytes."""
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.jobs import runner
from app.jobs.models import Job
from app.models.base import utcnow
from app.projects import services, storage
from app.projects.models import RollbackEvent
from tests.projects.helpers import make_project, run_jobs, validate


@pytest.mark.postgres
def test_a_run_survives_a_reload_and_shows_its_findings_when_done(app, login_as):
    owner = login_as()
    project = make_project(owner.user, {"bad.yaml": b"a: [\n"})
    response = owner.post(f"/projects/{project.id}/runs")
    assert response.status_code == 303
    run_url = response.headers["Location"]
    page = owner.get(run_url).get_data(as_text=True)  # a reload while it waits
    assert "Validation waiting to start" in page and 'hx-trigger="every 1s"' in page and "Cancel validation" in page
    poll = owner.get(run_url, headers={"HX-Request": "true", "HX-Target": "run-status"}).get_data(as_text=True)
    assert poll.lstrip().startswith('<section id="run-status"')
    run_jobs()
    page = owner.get(run_url).get_data(as_text=True)
    assert "This run: succeeded" in page and "bad.yaml" in page and "every 1s" not in page
    assert "<polyline" in owner.get(f"/projects/{project.id}").get_data(as_text=True)


@pytest.mark.postgres
def test_a_run_whose_worker_died_is_picked_up_again(app):
    from tests.factories import make_user
    user = make_user()
    project = make_project(user, {"x.json": b"{"})
    run = services.start_run(user, project.id)
    job = runner.claim("dead-worker")  # claimed, then its process died: no heartbeat ever again
    assert job is not None and job.status == "running"
    assert run_jobs() == 0  # still fresh: nobody takes it
    db.session.execute(update(Job).where(Job.id == job.id).values(heartbeat_at=utcnow() - timedelta(hours=1)))
    db.session.commit()
    assert run_jobs() == 1
    _project, run = services.get_run_for(user, project.id, run.id)
    assert run.status == "succeeded" and run.errors_found == 1
    assert db.session.get(Job, job.id).attempts == 2


def test_cancelling_a_queued_run_closes_it(app, login_as):
    owner = login_as()
    project = make_project(owner.user, {"a.txt": b"x"})
    run = services.start_run(owner.user, project.id)
    assert owner.post(f"/projects/{project.id}/runs/{run.id}/cancel").status_code == 303
    _project, run = services.get_run_for(owner.user, project.id, run.id)
    assert run.status == "cancelled" and run_jobs() == 0
    assert owner.post(f"/projects/{project.id}/runs").status_code == 303  # a new one may start


def test_resolve_and_reopen_record_who_when_notes_and_move_the_score(app, login_as):
    owner = login_as()
    project = make_project(owner.user, {"a.json": b"{", "b.json": b"["})
    run = validate(owner.user, project)
    assert services.get_project_for(owner.user, project.id).health_score == 80
    finding = services.findings_page(project, run, "open", 1)[0][0]
    response = owner.post(f"/projects/{project.id}/findings/{finding.id}/resolve", data={"notes": "fixture file"},
                          htmx=True)
    assert response.status_code == 200 and "fixture file" in response.get_data(as_text=True)
    db.session.refresh(finding)
    assert finding.resolved_by == owner.user.id and finding.resolved_at and finding.resolution_notes == "fixture file"
    assert services.get_project_for(owner.user, project.id).health_score == 90
    # the next run keeps the resolution of the same finding
    again = validate(owner.user, project)
    resolved = services.findings_page(project, again, "resolved", 1)[0]
    assert [(f.file_path, f.resolution_notes) for f in resolved] == [(finding.file_path, "fixture file")]
    owner.post(f"/projects/{project.id}/findings/{resolved[0].id}/reopen", htmx=True)
    assert services.get_project_for(owner.user, project.id).health_score == 80
    listing = owner.get(f"/projects/{project.id}/findings?show=all").get_data(as_text=True)
    assert "a.json" in listing and "b.json" in listing


@pytest.mark.postgres
def test_rollback_restores_exact_bytes_in_one_go_and_is_recorded(app, login_as):
    owner = login_as()
    original = {"data.bin": bytes(range(256)) * 4, "keep.txt": "naïve ✓\r\n".encode()}
    project = make_project(owner.user, original)
    checkpoint = services.create_checkpoint(owner.user, project.id, "before the change")
    services.import_files(owner.user, project.id, {"data.bin": b"changed", "added.txt": b"new file"})
    response = owner.post(f"/projects/{project.id}/checkpoints/{checkpoint.id}/rollback")
    assert response.status_code == 303
    rows = services.files_page(services.get_project_for(owner.user, project.id), 1)[0]
    assert {row.path: storage.read(row.file_hash) for row in rows} == original
    event = db.session.scalar(select(RollbackEvent).where(RollbackEvent.project_id == project.id))
    assert (event.status, event.files_restored, event.triggered_by) == ("completed", 2, owner.user.id)
    assert services.get_project_for(owner.user, project.id).file_count == 2


def test_a_rollback_with_a_missing_blob_changes_nothing_and_says_so(app, login_as):
    owner = login_as()
    project = make_project(owner.user, {"a.txt": b"first"})
    checkpoint = services.create_checkpoint(owner.user, project.id)
    services.import_files(owner.user, project.id, {"a.txt": b"second"})
    storage.blob_path(storage.hash_of(b"first")).unlink()
    event = services.rollback(owner.user, project.id, checkpoint.id)
    assert event.status == "failed" and "a.txt" in event.error_message
    rows = services.files_page(project, 1)[0]
    assert storage.read(rows[0].file_hash) == b"second"
