"""Another person's project answers 404 everywhere; the gauntlet is off by default, admins only,
time-limited and without network."""
import os
import sys

import pytest

from app.projects import services
from app.projects.validators import gauntlet
from tests.factories import make_user
from tests.projects.helpers import make_project, validate


@pytest.mark.postgres
def test_another_users_project_is_404_on_pages_files_runs_and_findings(app, login_as):
    owner = make_user()
    project = make_project(owner, {"a.json": b"{broken", "b.txt": b"hi"})
    run = validate(owner, project)
    checkpoint = services.create_checkpoint(owner, project.id, "start")
    row = services.files_page(project, 1)[0][0]
    finding = services.findings_page(project, run, "all", 1)[0][0]
    stranger = login_as()
    base = f"/projects/{project.id}"
    for path in (base, f"{base}/files/{row.id}", f"{base}/files/{row.id}/download", f"{base}/runs/{run.id}",
                 f"{base}/findings"):
        assert stranger.get(path).status_code == 404, path
    for path in (f"{base}/runs", f"{base}/runs/{run.id}/cancel", f"{base}/findings/{finding.id}/resolve",
                 f"{base}/findings/{finding.id}/reopen", f"{base}/checkpoints",
                 f"{base}/checkpoints/{checkpoint.id}/rollback", f"{base}/settings"):
        assert stranger.post(path).status_code == 404, path
    assert str(project.id) not in stranger.get("/projects").get_data(as_text=True)
    # and the owner's own ids do not reach across projects
    other = make_project(stranger.user)
    assert stranger.get(f"/projects/{other.id}/files/{row.id}").status_code == 404
    assert stranger.get(f"/projects/{other.id}/runs/{run.id}").status_code == 404


def test_the_gauntlet_is_off_by_default_and_only_admins_enable_it(app, login_as):
    owner = login_as()
    project = make_project(owner.user, {"ok.txt": b"x"})
    services.update_settings(owner.user, project.id, description="", json_schemas={}, forbidden_patterns=[],
                             max_file_bytes=None, test_command="true")
    assert validate(owner.user, project).summary["validators"]["gauntlet"]["status"] == "skipped"
    assert owner.post(f"/projects/{project.id}/gauntlet", data={"enabled": "y"}).status_code == 403
    assert login_as("moderator").post(f"/projects/{project.id}/gauntlet", data={"enabled": "y"}).status_code == 403
    assert not services.get_project_for(owner.user, project.id).is_gauntlet_enabled
    admin = login_as("admin")
    assert admin.post(f"/projects/{project.id}/gauntlet", data={"enabled": "y"}).status_code == 303
    assert services.get_project_for(owner.user, project.id).is_gauntlet_enabled


def _gauntlet_project(user, command: str, files=None):
    project = make_project(user, files or {"test_ok.py": b"print('ran')\n"})
    services.update_settings(user, project.id, description="", json_schemas={}, forbidden_patterns=[],
                             max_file_bytes=None, test_command=command)
    services.set_gauntlet(make_user(role="admin"), project.id, True)
    return project


def _gauntlet_finding(user, project):
    run = validate(user, project)
    return run, [f for f in services.findings_page(project, run, "all", 1)[0] if f.source == "gauntlet"]


# Skipped on a machine without network namespaces, but never on CI (CI set), where it must run.
needs_isolation = pytest.mark.skipif(gauntlet.isolation_prefix() is None and not os.environ.get("CI"),
                                     reason="no network namespaces here")


@needs_isolation
def test_the_gauntlet_runs_the_command_on_the_files_and_captures_output(app):
    user = make_user()
    run, findings = _gauntlet_finding(user, _gauntlet_project(user, f"{sys.executable} test_ok.py"))
    assert run.summary["validators"]["gauntlet"]["status"] == "passed"
    assert findings[0].error_code == "tests-passed" and "ran" in findings[0].details["output"]


@needs_isolation
def test_the_gauntlet_stops_a_command_at_its_time_limit(app):
    app.config["GAUNTLET_TIMEOUT_SECONDS"] = 1
    user = make_user()
    run, findings = _gauntlet_finding(user, _gauntlet_project(user, "sleep 30"))
    assert findings[0].error_code == "tests-timeout" and findings[0].details["seconds"] < 10


@needs_isolation
def test_the_gauntlet_has_no_network(app):
    probe = (b"import socket\ntry:\n    socket.create_connection(('127.0.0.1', 1), 2)\nexcept OSError as e:\n"
             b"    print('errno', e.errno)\n    raise SystemExit(3)\n")
    user = make_user()
    run, findings = _gauntlet_finding(user, _gauntlet_project(user, f"{sys.executable} probe.py",
                                                              {"probe.py": probe}))
    # In a fresh namespace even loopback is down: connecting fails with "network unreachable" (101).
    assert findings[0].error_code == "tests-failed" and "errno 101" in findings[0].details["output"]


def test_the_gauntlet_refuses_to_run_where_there_is_no_network_namespace(app, monkeypatch):
    monkeypatch.setattr(gauntlet, "isolation_prefix", lambda: None)
    user = make_user()
    run, findings = _gauntlet_finding(user, _gauntlet_project(user, "true"))
    state = run.summary["validators"]["gauntlet"]
    assert state["status"] == "unavailable" and "unshare" in state["note"] and findings == []
