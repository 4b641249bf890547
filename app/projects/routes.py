"""Views for /projects. Thin: parse the form, call one service, render the page or the fragment."""
from __future__ import annotations

import io
import posixpath
import uuid

from flask import current_app, make_response, render_template, request, send_file, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from app.core.forms import errors_text
from app.core.pages import done, htmx_target, is_htmx, page_number, render_page
from app.errors import ValidationFailed
from app.extensions import csrf
from app.projects import bp, services, storage, uploads
from app.projects.forms import CheckpointForm, GauntletForm, NotesForm, ProjectForm, SettingsForm, UploadForm
from app.projects.validators import all_validators
from app.security.roles import Role, acting_user, login_required, role_required

CSRF_FAILED = "Your form expired or was not sent from this site. Reload the page and try again."


@bp.get("/projects")
@login_required
def index():
    """The user's projects and the form for a new one."""
    projects, has_more = services.list_projects(acting_user(), page_number())
    return render_template("projects/index.html", projects=projects, has_more=has_more, page=page_number(),
                           form=ProjectForm(formdata=None))


@bp.post("/projects")
@login_required
def create():
    """Create a project and go to it."""
    form = ProjectForm()
    if form.validate_on_submit():
        try:
            project = services.create_project(acting_user(), form.name.data, form.description.data or "")
        except ValidationFailed as error:
            form.form_errors.append(error.message)
        else:
            return done("Project created.", url_for("projects.show", project_id=project.id), navigate=True)
    projects, has_more = services.list_projects(acting_user(), 1)
    return render_template("projects/index.html", projects=projects, has_more=has_more, page=1, form=form), 200


def tree_rows(files) -> list[dict]:
    """Files in path order as rows of a tree: a folder row where a new folder starts, then its files."""
    rows, shown = [], set()
    for row in files:
        parts = row.path.split("/")
        for depth in range(len(parts) - 1):
            folder = "/".join(parts[: depth + 1])
            if folder not in shown:
                shown.add(folder)
                rows.append({"is_folder": True, "name": parts[depth], "depth": depth})
        rows.append({"is_folder": False, "name": parts[-1], "depth": len(parts) - 1, "file": row})
    return rows


def trend_points(runs, width: int = 300, height: int = 80) -> str:
    """The health scores of finished runs, oldest first, as SVG polyline points."""
    scores = [run.summary.get("health_score") for run in reversed(runs)
              if run.status == "succeeded" and run.summary.get("health_score") is not None]
    if not scores:
        return ""
    if len(scores) == 1:
        scores = scores * 2  # one run: a flat line across
    step = width / max(len(scores) - 1, 1)
    return " ".join(f"{index * step:.1f},{height - score * height / 100:.1f}" for index, score in enumerate(scores))


def _project_context(project, **extra):
    user = acting_user()
    runs = services.recent_runs(project)
    active = next((run for run in runs if run.status in ("queued", "running")), None)
    latest = services.latest_finished_run(project)
    files, files_more = services.files_page(project, page_number("files"))
    findings, findings_more = services.findings_page(project, latest, "open", 1)
    settings = project.settings or {}
    settings_form = extra.pop("settings_form", None) or SettingsForm(formdata=None, data={
        "description": project.description,
        "json_schemas": "\n".join(f"{glob} = {path}" for glob, path in (settings.get("json_schemas") or {}).items()),
        "forbidden_patterns": "\n".join(settings.get("forbidden_patterns") or []),
        "max_file_bytes": settings.get("max_file_bytes"),
        "test_command": settings.get("test_command") or ""})
    return dict(project=project, runs=runs, active_run=active, latest_run=latest,
                progress=services.progress_of(active) if active else {}, tree=tree_rows(files),
                files_more=files_more, files_page=page_number("files"), findings=findings, findings_more=findings_more,
                resolvers=services.resolvers_of(findings), validators=all_validators(),
                checkpoints=services.checkpoints_of(project), rollbacks=services.rollbacks_of(project),
                trend=trend_points(runs), upload_form=UploadForm(formdata=None), settings_form=settings_form,
                checkpoint_form=CheckpointForm(formdata=None), notes_form=NotesForm(formdata=None),
                gauntlet_form=GauntletForm(formdata=None, data={"enabled": project.is_gauntlet_enabled}),
                is_admin=user.role == Role.ADMIN.value, weights=(services.ERROR_WEIGHT, services.WARNING_WEIGHT),
                max_upload_mb=current_app.config["PROJECT_MAX_TOTAL_BYTES"] // (1024 * 1024), **extra)


@bp.get("/projects/<uuid:project_id>")
@login_required
def show(project_id: uuid.UUID):
    """The project: health, validators, the latest run (live while it runs), findings, files, history."""
    project = services.get_project_for(acting_user(), project_id)
    response = make_response(render_page("projects/show.html", {"run-status": "projects/_run_status.html"},
                                         **_project_context(project)))
    return _vary_and_refresh_when_done(response, services.active_run(project) is None)


# The global CSRF check reads the body under the app's 2 MB limit before any view runs; this view
# raises the limit for itself first, then the form checks its own CSRF token.
@bp.post("/projects/<uuid:project_id>/files")
@csrf.exempt
@login_required
def upload(project_id: uuid.UUID):
    """Add a zip archive's files, or single files, to the project: all of them or none."""
    user = acting_user()
    project = services.get_project_for(user, project_id)
    limits = uploads.Limits.from_config()
    request.max_content_length = limits.max_total_bytes + 1024 * 1024
    error = None
    try:
        form = UploadForm()
        form.validate()
        chosen = [item for item in (form.files.data or []) if getattr(item, "filename", None)]
        if form.csrf_token.errors:
            error = CSRF_FAILED
        elif not chosen:
            error = "Choose a zip archive or some files to upload."
        elif len(chosen) == 1 and chosen[0].filename.lower().endswith(".zip"):
            contents = uploads.read_zip(chosen[0].stream, limits)
        else:
            contents = uploads.read_files([(item.filename, item.stream) for item in chosen], limits)
        if error is None:
            count = services.import_files(user, project.id, contents)
    except RequestEntityTooLarge:
        error = f"The upload is larger than {limits.max_total_bytes // (1024 * 1024)} MB. Nothing was imported."
    except uploads.UploadRefused as refused:
        error = refused.message
    except ValidationFailed as failed:
        error = failed.message
    if error is not None:
        if is_htmx():
            return render_template("projects/_upload.html", **_project_context(project, upload_error=error)), 200
        return render_template("projects/show.html", **_project_context(project, upload_error=error)), 422
    return done(f"{count:,} file{'' if count == 1 else 's'} imported.",
                url_for("projects.show", project_id=project.id), navigate=True)


@bp.get("/projects/<uuid:project_id>/files/<uuid:file_id>")
@login_required
def file_preview(project_id: uuid.UUID, file_id: uuid.UUID):
    """A file's text, escaped (never rendered as HTML), or a note that it is binary."""
    project, row = services.get_file_for(acting_user(), project_id, file_id)
    return render_template("projects/file.html", project=project, file=row, preview=services.preview_of(row))


@bp.get("/projects/<uuid:project_id>/files/<uuid:file_id>/download")
@login_required
def file_download(project_id: uuid.UUID, file_id: uuid.UUID):
    """The file's exact bytes as an attachment, never sniffed into something a browser would run."""
    _project, row = services.get_file_for(acting_user(), project_id, file_id)
    response = send_file(io.BytesIO(storage.read(row.file_hash)), mimetype="application/octet-stream",
                         as_attachment=True, download_name=posixpath.basename(row.path) or "file")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def _parse_schema_rules(text: str) -> dict[str, str]:
    rules = {}
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        glob, separator, path = line.partition("=")
        if not separator or not glob.strip() or not path.strip():
            raise ValidationFailed(f"“{line[:60]}”: write each rule as pattern = path/to/schema.json.")
        rules[glob.strip()] = path.strip()
    return rules


@bp.post("/projects/<uuid:project_id>/settings")
@login_required
def save_settings(project_id: uuid.UUID):
    """Save the description and the validators' settings."""
    project = services.get_project_for(acting_user(), project_id)
    form = SettingsForm()
    if form.validate_on_submit():
        try:
            services.update_settings(
                acting_user(), project.id, description=form.description.data or "",
                json_schemas=_parse_schema_rules(form.json_schemas.data),
                forbidden_patterns=[line.strip() for line in (form.forbidden_patterns.data or "").splitlines()
                                    if line.strip()],
                max_file_bytes=form.max_file_bytes.data, test_command=form.test_command.data or "")
        except ValidationFailed as error:
            form.form_errors.append(error.message)
        else:
            return done("Settings saved.", url_for("projects.show", project_id=project.id, _anchor="settings"))
    return done(errors_text(form) or "Check the settings.", url_for("projects.show", project_id=project.id,
                                                           _anchor="settings"), level="error")


@bp.post("/projects/<uuid:project_id>/gauntlet")
@role_required(Role.ADMIN)
def gauntlet(project_id: uuid.UUID):
    """Admins only: turn the project's test command on or off."""
    form = GauntletForm()
    project = services.set_gauntlet(acting_user(), project_id, bool(form.enabled.data))
    return done("The gauntlet is on for this project." if project.is_gauntlet_enabled else "The gauntlet is off.",
                url_for("projects.show", project_id=project.id))


@bp.post("/projects/<uuid:project_id>/runs")
@login_required
def start_run(project_id: uuid.UUID):
    """Start a validation in the background and show its progress."""
    run = services.start_run(acting_user(), project_id)
    return done("Validation started.", url_for("projects.run", project_id=project_id, run_id=run.id), navigate=True)


@bp.get("/projects/<uuid:project_id>/runs/<uuid:run_id>")
@login_required
def run(project_id: uuid.UUID, run_id: uuid.UUID):
    """One run: its live progress while it works (htmx polls the status part), then its findings."""
    project, the_run = services.get_run_for(acting_user(), project_id, run_id)
    which = request.args.get("show") if request.args.get("show") in services.FINDING_FILTERS else "all"
    findings, has_more = services.findings_page(project, the_run if the_run.status == "succeeded" else None, which,
                                                page_number())
    response = make_response(render_page(
        "projects/run.html", {"run-status": "projects/_run_status.html"}, project=project, run=the_run,
        active_run=the_run if the_run.status in ("queued", "running") else None, latest_run=the_run,
        progress=services.progress_of(the_run), findings=findings, findings_more=has_more, page=page_number(),
        which=which, resolvers=services.resolvers_of(findings), notes_form=NotesForm(formdata=None),
        validators=all_validators(), on_run_page=True))
    return _vary_and_refresh_when_done(response, the_run.status not in ("queued", "running"))


def _vary_and_refresh_when_done(response, is_done: bool):
    """The status poll of a run that has ended reloads the whole page (its findings and health change too)."""
    response.headers["Vary"] = "HX-Request"
    if is_done and htmx_target() == "run-status":
        response.headers["HX-Refresh"] = "true"
    return response


@bp.post("/projects/<uuid:project_id>/runs/<uuid:run_id>/cancel")
@login_required
def cancel_run(project_id: uuid.UUID, run_id: uuid.UUID):
    """Stop a run after the file it is on; it records nothing."""
    services.cancel_run(acting_user(), project_id, run_id)
    return done("Validation cancelled.", url_for("projects.run", project_id=project_id, run_id=run_id), navigate=True)


@bp.get("/projects/<uuid:project_id>/findings")
@login_required
def findings(project_id: uuid.UUID):
    """The latest run's findings: open, resolved or all, paged."""
    project = services.get_project_for(acting_user(), project_id)
    which = request.args.get("show") if request.args.get("show") in services.FINDING_FILTERS else "open"
    latest = services.latest_finished_run(project)
    rows, has_more = services.findings_page(project, latest, which, page_number())
    return render_template("projects/findings.html", project=project, run=latest, findings=rows,
                           findings_more=has_more, page=page_number(), which=which,
                           resolvers=services.resolvers_of(rows), notes_form=NotesForm(formdata=None))


def _finding_done(message: str, project_id, row):
    fragment = render_template("projects/_finding.html", finding=row, project_id=project_id,
                               resolvers=services.resolvers_of([row]), notes_form=NotesForm(formdata=None))
    return done(message, url_for("projects.findings", project_id=project_id), fragment=fragment)


@bp.post("/projects/<uuid:project_id>/findings/<uuid:finding_id>/resolve")
@login_required
def resolve(project_id: uuid.UUID, finding_id: uuid.UUID):
    """Mark a finding resolved, with notes."""
    form = NotesForm()
    if not form.validate_on_submit():
        return done(errors_text(form) or "Check the notes.", url_for("projects.findings", project_id=project_id),
                    level="error")
    row = services.resolve_finding(acting_user(), project_id, finding_id, form.notes.data or "")
    return _finding_done("Finding resolved.", project_id, row)


@bp.post("/projects/<uuid:project_id>/findings/<uuid:finding_id>/reopen")
@login_required
def reopen(project_id: uuid.UUID, finding_id: uuid.UUID):
    """Open a resolved finding again."""
    form = NotesForm()
    form.validate_on_submit()
    row = services.reopen_finding(acting_user(), project_id, finding_id, form.notes.data or "")
    return _finding_done("Finding reopened.", project_id, row)


@bp.post("/projects/<uuid:project_id>/checkpoints")
@login_required
def create_checkpoint(project_id: uuid.UUID):
    """Snapshot the project's files."""
    form = CheckpointForm()
    form.validate_on_submit()
    checkpoint = services.create_checkpoint(acting_user(), project_id, form.checkpoint_description.data or "")
    return done(f"Checkpoint saved ({checkpoint.file_count:,} files).",
                url_for("projects.show", project_id=project_id), navigate=True)


@bp.post("/projects/<uuid:project_id>/checkpoints/<uuid:checkpoint_id>/rollback")
@login_required
def rollback(project_id: uuid.UUID, checkpoint_id: uuid.UUID):
    """Restore the checkpoint's files exactly (files added since are removed)."""
    event = services.rollback(acting_user(), project_id, checkpoint_id, request.form.get("reason", "")[:200])
    if event.status != "completed":
        return done(f"Nothing was restored: {event.error_message}", url_for("projects.show", project_id=project_id),
                    level="error", navigate=True)
    return done(f"Rolled back: {event.files_restored:,} files restored.",
                url_for("projects.show", project_id=project_id), navigate=True)
