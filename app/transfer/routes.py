"""Views for exporting and importing conversations. Thin: parse, call one service, render."""
from __future__ import annotations

import uuid

from flask import Response, current_app, make_response, redirect, render_template, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from app.chat import services as chat_services
from app.core.pages import done, render_page
from app.extensions import csrf
from app.security import rate_limits
from app.security.roles import acting_user, login_required
from app.transfer import bp, services
from app.transfer.forms import ImportForm
from app.transfer.records import ImportRefused

CSRF_FAILED = "Your form expired or was not sent from this site. Reload the page and try again."


def _export(conversation_id: uuid.UUID, export, mimetype: str) -> Response:
    """One of the user's conversations as a download, written by `export(user, conversation)`."""
    conversation = chat_services.get_conversation_for(acting_user(), conversation_id)
    body, *names = export(acting_user(), conversation)
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = services.content_disposition(*names)
    return response


@bp.get("/chat/<uuid:conversation_id>/export.md")
@login_required
def export_markdown(conversation_id: uuid.UUID):
    """Download the conversation as a Markdown transcript."""
    return _export(conversation_id, services.export_markdown, "text/markdown; charset=utf-8")


@bp.get("/chat/<uuid:conversation_id>/export.json")
@login_required
def export_json(conversation_id: uuid.UUID):
    """Download the conversation as Studio JSON (messages, parts, models, options, timestamps)."""
    return _export(conversation_id, services.export_json, "application/json")


def _import_page(form, error=None, status=200):
    config = current_app.config
    return render_template("transfer/import.html", form=form, error=error,
                           max_megabytes=config["IMPORT_MAX_BYTES"] // (1024 * 1024),
                           max_conversations=config["MAX_CONVERSATIONS_PER_USER"]), status


def _too_large() -> str:
    return (f"The file is larger than {current_app.config['IMPORT_MAX_BYTES'] // (1024 * 1024)} MB, so it was not "
            "read. Nothing was imported.")


@bp.get("/chat/import")
@login_required
def import_form():
    """The upload form."""
    return _import_page(ImportForm(formdata=None))


# The global CSRF check reads the body under the app's 2 MB limit before any view runs; this view
# raises the limit for itself first, then the form checks its own CSRF token. Werkzeug spools the
# file part to a temporary file, and start_import copies it to the upload folder in chunks.
@bp.post("/chat/import")
@csrf.exempt
@login_required
@rate_limits.imports
def import_conversations():
    """Store an uploaded ChatGPT or Studio export, queue its import and show its progress page."""
    request.max_content_length = current_app.config["IMPORT_MAX_BYTES"]
    try:
        form = ImportForm()
        is_valid = form.validate()
    except RequestEntityTooLarge:
        return _import_page(ImportForm(formdata=None), error=_too_large(), status=413)
    if form.csrf_token.errors:
        return _import_page(ImportForm(formdata=None), error=CSRF_FAILED, status=400)
    if not is_valid:
        return _import_page(form, status=422)
    try:
        job = services.start_import(acting_user(), form.file.data.stream)
    except RequestEntityTooLarge:
        return _import_page(ImportForm(formdata=None), error=_too_large(), status=413)
    except ImportRefused as refused:
        return _import_page(ImportForm(formdata=None), error=refused.message, status=422)
    return redirect(url_for("transfer.import_progress", job_id=job.id), code=303)


@bp.get("/chat/import/<uuid:job_id>")
@login_required
def import_progress(job_id: uuid.UUID):
    """An import's progress (the page, or for htmx's poll the progress part), then its report."""
    job = services.get_import_for(acting_user(), job_id)
    response = make_response(render_page("transfer/progress.html", {"import-progress": "transfer/_progress.html"},
                                         job=job, progress=job.progress or {}, report=services.report_of(job),
                                         form=ImportForm(formdata=None)))
    response.headers["Vary"] = "HX-Request"
    return response


@bp.post("/chat/import/<uuid:job_id>/cancel")
@login_required
def cancel_import(job_id: uuid.UUID):
    """Stop an import after its current batch; what was imported stays."""
    job = services.cancel_import(acting_user(), job_id)
    return done("Import cancelled. The conversations imported so far were kept.",
                url_for("transfer.import_progress", job_id=job.id))
