"""Projects: files stored by content hash, validation runs in the background, findings with resolve and
reopen, the health score, checkpoints and rollback. Every "get this for this user" answers NotFound for
another person's project, so access control lives here."""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import case, delete, func, select

from app.billing import limits as billing_limits
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.jobs import runner
from app.jobs.models import Job
from app.models.base import utcnow
from app.projects import storage
from app.projects.models import (
    MAX_DESCRIPTION_CHARS,
    MAX_NAME_CHARS,
    MAX_NOTES_CHARS,
    Checkpoint,
    CheckpointFile,
    Project,
    ProjectError,
    ProjectFile,
    RollbackEvent,
    ValidationRun,
)
from app.projects.validators import all_validators
from app.projects.validators.base import FileRef, ProjectView, ValidatorUnavailable
from app.security.audit import record_audit
from app.security.roles import role_at_least

VALIDATION_JOB = "project_validation"
PROJECTS_PER_PAGE = 20
FILES_PER_PAGE = 200
FINDINGS_PER_PAGE = 50
RUNS_SHOWN = 20
ERROR_WEIGHT, WARNING_WEIGHT = 10, 2
PREVIEW_BYTES = 200 * 1024


def health_score(open_errors: int, open_warnings: int) -> int:
    """The project's health, 0–100: 100, less 10 per open error and 2 per open warning, never below 0."""
    return max(0, 100 - ERROR_WEIGHT * open_errors - WARNING_WEIGHT * open_warnings)


# --- projects ------------------------------------------------------------------------------------

def get_project_for(user, project_id: uuid.UUID) -> Project:
    """The user's project, or NotFound (another person's project is as good as missing)."""
    project = db.session.scalar(select(Project).where(Project.id == project_id, Project.owner_id == user.id))
    if project is None:
        raise NotFound("No such project.")
    return project


def list_projects(user, page: int):
    from app.core.pages import paginate
    return paginate(select(Project).where(Project.owner_id == user.id)
                    .order_by(Project.created_at.desc(), Project.id), page, PROJECTS_PER_PAGE)


def create_project(user, name: str, description: str = "") -> Project:
    name, description = (name or "").strip(), (description or "").strip()
    if not 1 <= len(name) <= MAX_NAME_CHARS:
        raise ValidationFailed(f"A project needs a name of 1 to {MAX_NAME_CHARS} characters.")
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise ValidationFailed(f"The description takes at most {MAX_DESCRIPTION_CHARS:,} characters.")
    billing_limits.check_can_create_project(user)
    project = Project(owner_id=user.id, name=name, description=description, settings={})
    db.session.add(project)
    db.session.commit()
    return project


def import_files(user, project_id: uuid.UUID, contents: dict[str, bytes]) -> int:
    """Add or replace the project's files with `contents` ({path: bytes}); all or nothing. The blobs
    are written first (by hash, once); the rows change in one transaction. Returns how many files."""
    project = get_project_for(user, project_id)
    db.session.rollback()  # hold no transaction while writing to disk
    stored = {path: (storage.put(data), len(data)) for path, data in contents.items()}
    project = get_project_for(user, project_id)
    existing = {row.path: row for row in db.session.scalars(select(ProjectFile).where(
        ProjectFile.project_id == project.id))}
    limit = current_app.config["PROJECT_MAX_FILES"]
    if len(set(existing) | set(stored)) > limit:
        db.session.rollback()
        raise ValidationFailed(f"Nothing was imported: the project would hold more than {limit:,} files.")
    for path, (file_hash, size) in stored.items():
        row = existing.get(path)
        if row is None:
            db.session.add(ProjectFile(project_id=project.id, path=path, file_hash=file_hash, size_bytes=size))
        else:
            row.file_hash, row.size_bytes = file_hash, size
    db.session.flush()
    _refresh_file_totals(project)
    db.session.flush()
    try:
        billing_limits.check_storage(user)
    except billing_limits.LimitReached:
        db.session.rollback()
        raise
    project.last_activity_at = utcnow()
    db.session.commit()
    return len(stored)


def _refresh_file_totals(project: Project) -> None:
    count, total = db.session.execute(select(func.count(), func.coalesce(func.sum(ProjectFile.size_bytes), 0))
                                      .where(ProjectFile.project_id == project.id)).one()
    project.file_count, project.total_size_bytes = count, int(total)


def files_page(project: Project, page: int):
    from app.core.pages import paginate
    return paginate(select(ProjectFile).where(ProjectFile.project_id == project.id).order_by(ProjectFile.path),
                    page, FILES_PER_PAGE)


def _get_in_project(user, project_id: uuid.UUID, model, row_id: uuid.UUID, missing: str):
    """The project the user may see and its row of `model` with that id; NotFound(missing) for another project's."""
    project = get_project_for(user, project_id)
    row = db.session.scalar(select(model).where(model.id == row_id, model.project_id == project.id))
    if row is None:
        raise NotFound(missing)
    return project, row


def get_file_for(user, project_id: uuid.UUID, file_id: uuid.UUID) -> tuple[Project, ProjectFile]:
    return _get_in_project(user, project_id, ProjectFile, file_id, "No such file.")


@dataclass
class Preview:
    text: str | None
    is_truncated: bool
    reason: str | None = None


def preview_of(row: ProjectFile) -> Preview:
    """The file as text to show escaped (never as HTML), or why it is not shown."""
    data = storage.read(row.file_hash, PREVIEW_BYTES + 1)
    if b"\x00" in data[:8192]:
        return Preview(None, False, "This looks like a binary file: download it to see it.")
    text = data[:PREVIEW_BYTES].decode("utf-8", errors="replace")
    return Preview(text, len(data) > PREVIEW_BYTES)


SETTINGS_LIMITS = {"forbidden_patterns": 50, "json_schemas": 50}


def update_settings(user, project_id: uuid.UUID, *, description: str, json_schemas: dict[str, str],
                    forbidden_patterns: list[str], max_file_bytes: int | None, test_command: str) -> Project:
    project = get_project_for(user, project_id)
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise ValidationFailed(f"The description takes at most {MAX_DESCRIPTION_CHARS:,} characters.")
    if len(forbidden_patterns) > SETTINGS_LIMITS["forbidden_patterns"] or len(json_schemas) > 50:
        raise ValidationFailed("At most 50 forbidden texts and 50 schema rules.")
    project.description = description
    project.settings = {**(project.settings or {}), "json_schemas": json_schemas,
                        "forbidden_patterns": forbidden_patterns, "max_file_bytes": max_file_bytes,
                        "test_command": test_command}
    db.session.commit()
    return project


def set_gauntlet(admin, project_id: uuid.UUID, enabled: bool) -> Project:
    """Turn the gauntlet on or off for any project; admins only (audited)."""
    if not role_at_least(admin.role, "admin"):
        raise Forbidden("Only an admin can enable the gauntlet.")
    project = db.session.get(Project, project_id)
    if project is None:
        raise NotFound("No such project.")
    before = project.is_gauntlet_enabled
    project.is_gauntlet_enabled = enabled
    record_audit(admin.id, "project", project.id, "gauntlet_enabled" if enabled else "gauntlet_disabled",
                 before={"is_gauntlet_enabled": before}, after={"is_gauntlet_enabled": enabled})
    db.session.commit()
    return project


# --- runs ----------------------------------------------------------------------------------------

def start_run(user, project_id: uuid.UUID, trigger_source: str = "page") -> ValidationRun:
    """Queue a validation of the project (one at a time per project)."""
    project = get_project_for(user, project_id)
    active = db.session.scalar(select(ValidationRun.id).where(
        ValidationRun.project_id == project.id, ValidationRun.status.in_(("queued", "running"))))
    if active is not None:
        raise Conflict("A validation of this project is already running.")
    run = ValidationRun(project_id=project.id, triggered_by=user.id, trigger_source=trigger_source, status="queued",
                        summary={}, details={})
    db.session.add(run)
    db.session.flush()
    job = runner.enqueue(VALIDATION_JOB, {"run_id": str(run.id)}, user=user, progress={"done": 0, "total": 0})
    run.job_id = job.id
    project.last_activity_at = utcnow()
    db.session.commit()
    runner.wake()
    return run


def get_run_for(user, project_id: uuid.UUID, run_id: uuid.UUID) -> tuple[Project, ValidationRun]:
    return _get_in_project(user, project_id, ValidationRun, run_id, "No such run.")


def progress_of(run: ValidationRun) -> dict:
    """The running job's progress ({done, total, validator}), or {} once finished."""
    if run.job_id is None or run.status not in ("queued", "running"):
        return {}
    job = db.session.get(Job, run.job_id)
    return dict(job.progress or {}) if job else {}


def cancel_run(user, project_id: uuid.UUID, run_id: uuid.UUID) -> ValidationRun:
    project, run = get_run_for(user, project_id, run_id)
    if run.status not in ("queued", "running"):
        return run
    job = db.session.get(Job, run.job_id) if run.job_id else None
    if job is not None:
        runner.request_cancel(job)
    if job is None or job.status == "cancelled":
        _close_run(run, "cancelled")
    db.session.commit()
    return run


def recent_runs(project: Project) -> list[ValidationRun]:
    return list(db.session.scalars(select(ValidationRun).where(ValidationRun.project_id == project.id)
                                   .order_by(ValidationRun.started_at.desc(), ValidationRun.id).limit(RUNS_SHOWN)))


def active_run(project: Project) -> ValidationRun | None:
    return db.session.scalar(select(ValidationRun).where(ValidationRun.project_id == project.id,
                                                         ValidationRun.status.in_(("queued", "running"))).limit(1))


def latest_finished_run(project: Project) -> ValidationRun | None:
    return db.session.scalar(select(ValidationRun).where(ValidationRun.project_id == project.id,
                                                         ValidationRun.status == "succeeded")
                             .order_by(ValidationRun.started_at.desc(), ValidationRun.id.desc()).limit(1))


def _close_run(run: ValidationRun, status: str) -> None:
    run.status, run.ended_at = status, utcnow()
    run.duration_ms = int((run.ended_at - run.started_at).total_seconds() * 1000)


def _view_of(project: Project) -> ProjectView:
    files = [FileRef(row.path, row.file_hash, row.size_bytes) for row in db.session.scalars(
        select(ProjectFile).where(ProjectFile.project_id == project.id).order_by(ProjectFile.path))]
    return ProjectView(files, dict(project.settings or {}), project.is_gauntlet_enabled,
                       lambda ref: storage.read(ref.file_hash))


@runner.register(VALIDATION_JOB)
def run_validation(context: runner.JobContext) -> dict:
    """Run every validator over the project's files, then write the run, its findings and the project's
    health in one transaction. Nothing is written before the end, so a run picked up again after its
    worker died simply starts over."""
    run = db.session.get(ValidationRun, uuid.UUID(context.payload["run_id"]))
    if run is None or run.status not in ("queued", "running"):
        return {"done": 0, "total": 0}
    project = db.session.get(Project, run.project_id)
    run.status = "running"
    view = _view_of(project)
    db.session.commit()
    validators = all_validators()
    total = len(view.files) * len(validators)
    progress = {"done": 0, "total": total, "validator": ""}
    last_saved = [0.0]
    started = time.monotonic()

    def tick():
        progress["done"] += 1
        if time.monotonic() - last_saved[0] > 0.5:
            last_saved[0] = time.monotonic()
            context.save_progress(dict(progress))
            context.check_cancelled()

    findings, statuses = [], {}
    for validator in validators:
        progress["validator"] = validator.label
        before = progress["done"]
        if not validator.is_enabled(view):
            statuses[validator.name] = {"status": "skipped", "note": "Not enabled for this project."}
        else:
            try:
                found = validator.check(view, tick)
            except ValidatorUnavailable as unavailable:
                statuses[validator.name] = {"status": "unavailable", "note": str(unavailable)}
                found = []
            else:
                errors = sum(1 for f in found if f.severity == "error")
                warnings = sum(1 for f in found if f.severity == "warning")
                statuses[validator.name] = {"status": "failed" if errors else ("warnings" if warnings else "passed"),
                                            "errors": errors, "warnings": warnings}
            for finding in found:
                finding.details.setdefault("validator", validator.name)
                findings.append((validator.name, finding))
        progress["done"] = before + len(view.files)
        context.save_progress(dict(progress))
        context.check_cancelled()
    _record_results(run.id, findings, statuses, int((time.monotonic() - started) * 1000), len(view.files))
    return {**progress, "done": total}


def _record_results(run_id, findings, statuses, work_ms: int, file_count: int) -> None:
    run = db.session.get(ValidationRun, run_id, populate_existing=True)
    project = db.session.get(Project, run.project_id)
    previous = latest_finished_run(project)
    resolved = {}
    if previous is not None:
        for row in db.session.scalars(select(ProjectError).where(ProjectError.run_id == previous.id,
                                                                 ProjectError.resolved_at.is_not(None))):
            resolved[row.fingerprint] = row
    counts = {"error": 0, "warning": 0, "info": 0}
    for source, finding in findings:
        row = ProjectError(project_id=project.id, run_id=run.id, error_code=finding.code[:60],
                           message=finding.message[:2000], severity=finding.severity, category=finding.category,
                           source=source, file_path=finding.file_path, line_number=finding.line,
                           details=finding.details)
        earlier = resolved.get(row.fingerprint)
        if earlier is not None:  # a finding resolved before stays resolved, with its who/when/notes
            row.resolved_at, row.resolved_by = earlier.resolved_at, earlier.resolved_by
            row.resolution_notes = earlier.resolution_notes
        counts[finding.severity] += 1
        db.session.add(row)
    _close_run(run, "succeeded")
    run.errors_found, run.warnings_found = counts["error"], counts["warning"]
    run.summary = {"counts": counts, "validators": statuses, "files": file_count, "work_ms": work_ms}
    project.validation_count += 1
    project.last_validated_at = run.ended_at
    for name, state in statuses.items():
        setattr(project, f"{name}_status", state["status"])
    db.session.flush()
    _refresh_health(project, run)
    run.summary = {**run.summary, "health_score": project.health_score}
    db.session.commit()


def _refresh_health(project: Project, run: ValidationRun | None = None) -> None:
    """The project's open error and warning counts and health score, from its latest finished run."""
    run = run or latest_finished_run(project)
    if run is None:
        return
    errors, warnings = db.session.execute(select(
        func.coalesce(func.sum(case((ProjectError.severity == "error", 1), else_=0)), 0),
        func.coalesce(func.sum(case((ProjectError.severity == "warning", 1), else_=0)), 0))
        .where(ProjectError.run_id == run.id, ProjectError.resolved_at.is_(None))).one()
    project.error_count, project.warning_count = int(errors), int(warnings)
    project.health_score = health_score(int(errors), int(warnings))


@runner.on_finished(VALIDATION_JOB)
def _after_validation(context: runner.JobContext, status: str) -> None:
    """A cancelled or failed job closes its run (a succeeded one closed it with its results)."""
    if status == "succeeded":
        return
    run = db.session.get(ValidationRun, uuid.UUID(context.payload["run_id"]), populate_existing=True)
    if run is not None and run.status in ("queued", "running"):
        _close_run(run, "cancelled" if status == "cancelled" else "failed")
        db.session.commit()


# --- findings ------------------------------------------------------------------------------------

FINDING_FILTERS = ("open", "resolved", "all")


def findings_page(project: Project, run: ValidationRun | None, which: str, page: int):
    from app.core.pages import paginate
    if run is None:
        return [], False
    query = select(ProjectError).where(ProjectError.run_id == run.id)
    if which == "open":
        query = query.where(ProjectError.resolved_at.is_(None))
    elif which == "resolved":
        query = query.where(ProjectError.resolved_at.is_not(None))
    severity_order = case((ProjectError.severity == "error", 0), (ProjectError.severity == "warning", 1), else_=2)
    return paginate(query.order_by(severity_order, ProjectError.file_path, ProjectError.line_number, ProjectError.id),
                    page, FINDINGS_PER_PAGE)


def get_finding_for(user, project_id: uuid.UUID, finding_id: uuid.UUID) -> tuple[Project, ProjectError]:
    return _get_in_project(user, project_id, ProjectError, finding_id, "No such finding.")


def resolve_finding(user, project_id, finding_id, notes: str) -> ProjectError:
    project, row = get_finding_for(user, project_id, finding_id)
    notes = (notes or "").strip()
    if len(notes) > MAX_NOTES_CHARS:
        raise ValidationFailed(f"Notes take at most {MAX_NOTES_CHARS:,} characters.")
    row.resolved_at, row.resolved_by, row.resolution_notes = utcnow(), user.id, notes or None
    db.session.flush()
    _refresh_health(project)
    db.session.commit()
    return row


def reopen_finding(user, project_id, finding_id, notes: str = "") -> ProjectError:
    project, row = get_finding_for(user, project_id, finding_id)
    history = list((row.details or {}).get("history", []))[-20:]
    history.append({"reopened_at": utcnow().isoformat(), "by": str(user.id), "notes": (notes or "")[:MAX_NOTES_CHARS],
                    "was_resolved_at": row.resolved_at.isoformat() if row.resolved_at else None})
    row.details = {**(row.details or {}), "history": history}
    row.resolved_at = row.resolved_by = row.resolution_notes = None
    db.session.flush()
    _refresh_health(project)
    db.session.commit()
    return row


def resolvers_of(rows) -> dict:
    """Display names of the people who resolved these findings (one query)."""
    from app.auth.models import User
    ids = {row.resolved_by for row in rows if row.resolved_by}
    if not ids:
        return {}
    return {user.id: user.display_name or user.email for user in db.session.scalars(select(User).where(
        User.id.in_(ids)))}


# --- checkpoints ---------------------------------------------------------------------------------

def checkpoints_of(project: Project) -> list[Checkpoint]:
    return list(db.session.scalars(select(Checkpoint).where(Checkpoint.project_id == project.id,
                                                            Checkpoint.is_deleted.is_(False))
                                   .order_by(Checkpoint.created_at.desc(), Checkpoint.id).limit(20)))


def create_checkpoint(user, project_id: uuid.UUID, description: str = "") -> Checkpoint:
    """Snapshot the project's files (their paths and blob hashes)."""
    project = get_project_for(user, project_id)
    description = (description or "").strip()[:500]
    rows = list(db.session.scalars(select(ProjectFile).where(ProjectFile.project_id == project.id)))
    checkpoint = Checkpoint(project_id=project.id, created_by=user.id, description=description,
                            file_count=len(rows), total_size_bytes=sum(row.size_bytes for row in rows),
                            storage_path="blobs", details={})
    db.session.add(checkpoint)
    db.session.flush()
    for row in rows:
        db.session.add(CheckpointFile(checkpoint_id=checkpoint.id, file_path=row.path, file_hash=row.file_hash,
                                      file_size_bytes=row.size_bytes, storage_key=row.file_hash, details={}))
    db.session.commit()
    return checkpoint


def rollback(user, project_id: uuid.UUID, checkpoint_id: uuid.UUID, reason: str = "") -> RollbackEvent:
    """Make the project's files exactly the checkpoint's, in one transaction, and record it. If any
    blob is missing nothing changes and the event says which files failed."""
    project = get_project_for(user, project_id)
    checkpoint = db.session.scalar(select(Checkpoint).where(Checkpoint.id == checkpoint_id,
                                                            Checkpoint.project_id == project.id,
                                                            Checkpoint.is_deleted.is_(False)))
    if checkpoint is None:
        raise NotFound("No such checkpoint.")
    files = list(db.session.scalars(select(CheckpointFile).where(CheckpointFile.checkpoint_id == checkpoint.id)))
    missing = [row.file_path for row in files if not storage.exists(row.file_hash)]
    event = RollbackEvent(checkpoint_id=checkpoint.id, project_id=project.id, triggered_by=user.id,
                          trigger_reason=(reason or "")[:200], started_at=utcnow(), details={})
    if missing:
        event.status, event.files_failed = "failed", len(missing)
        event.error_message = "Stored copies are missing for: " + ", ".join(missing[:20])
    else:
        db.session.execute(delete(ProjectFile).where(ProjectFile.project_id == project.id))
        for row in files:
            db.session.add(ProjectFile(project_id=project.id, path=row.file_path, file_hash=row.file_hash,
                                       size_bytes=row.file_size_bytes))
        db.session.flush()
        _refresh_file_totals(project)
        event.status, event.files_restored = "completed", len(files)
    event.completed_at = utcnow()
    db.session.add(event)
    project.last_activity_at = utcnow()
    db.session.commit()
    return event


def rollbacks_of(project: Project) -> list[RollbackEvent]:
    return list(db.session.scalars(select(RollbackEvent).where(RollbackEvent.project_id == project.id)
                                   .order_by(RollbackEvent.started_at.desc(), RollbackEvent.id).limit(10)))
