"""Helpers for the projects tests: make a project with files, run the queued jobs."""
from app.jobs import runner
from app.projects import services


def make_project(user, files: dict | None = None, name: str = "Billing service"):
    project = services.create_project(user, name)
    if files:
        services.import_files(user, project.id, files)
    return project


def run_jobs() -> int:
    return runner.run_pending()


def validate(user, project):
    """Start a run and finish it here; returns the run."""
    run = services.start_run(user, project.id)
    run_jobs()
    _project, run = services.get_run_for(user, project.id, run.id)
    return run
