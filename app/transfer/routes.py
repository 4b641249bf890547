"""Views for exporting and importing conversations. Thin: parse, call one service, render."""
from __future__ import annotations

import uuid

from flask import Response, render_template, request
from werkzeug.exceptions import RequestEntityTooLarge

from app.chat import services as chat_services
from app.extensions import csrf
from app.security import rate_limits
from app.security.roles import acting_user, login_required
from app.transfer import bp, services
from app.transfer.forms import ImportForm
from app.transfer.records import ImportRefused

CSRF_FAILED = "Your form expired or was not sent from this site. Reload the page and try again."
TOO_LARGE = (f"The file is larger than {services.MAX_IMPORT_BYTES // (1024 * 1024)} MB, so it was not read. "
             "Nothing was imported.")


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


def _import_page(form, report=None, error=None, status=200):
    return render_template("transfer/import.html", form=form, report=report, error=error,
                           max_megabytes=services.MAX_IMPORT_BYTES // (1024 * 1024),
                           max_conversations=services.MAX_IMPORT_CONVERSATIONS,
                           max_messages=services.MAX_IMPORT_MESSAGES), status


@bp.get("/chat/import")
@login_required
def import_form():
    """The upload form."""
    return _import_page(ImportForm(formdata=None))


# The global CSRF check reads the body under the app's 2 MB limit before any view runs; this view
# raises the limit for itself first, then the form checks its own CSRF token.
@bp.post("/chat/import")
@csrf.exempt
@login_required
@rate_limits.imports
def import_conversations():
    """Import an uploaded ChatGPT or Studio export and show what was imported and what was skipped."""
    request.max_content_length = services.MAX_IMPORT_BYTES
    try:
        form = ImportForm()
        is_valid = form.validate()
    except RequestEntityTooLarge:
        return _import_page(ImportForm(formdata=None), error=TOO_LARGE, status=413)
    if form.csrf_token.errors:
        return _import_page(ImportForm(formdata=None), error=CSRF_FAILED, status=400)
    if not is_valid:
        return _import_page(form, status=422)
    try:
        data = form.file.data.read(services.MAX_IMPORT_BYTES + 1)
        report = services.import_file(acting_user(), data)
    except RequestEntityTooLarge:
        return _import_page(ImportForm(formdata=None), error=TOO_LARGE, status=413)
    except ImportRefused as refused:
        return _import_page(ImportForm(formdata=None), error=refused.message, status=422)
    return _import_page(ImportForm(formdata=None), report=report)
