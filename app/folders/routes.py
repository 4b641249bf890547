"""Views for folders under /chat/folders: create, edit, move, reorder, expand, delete."""
from __future__ import annotations

import uuid

from flask import render_template, request, url_for

from app.core.pages import SIDEBAR_CHANGED, done, page_number
from app.errors import Conflict, ValidationFailed
from app.folders import bp, services
from app.folders.forms import FolderForm
from app.security.roles import acting_user, login_required


def _parse_uuid(value: str | None) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationFailed("That folder does not exist.") from None


def _with_parent_choices(form: FolderForm, exclude: uuid.UUID | None = None) -> FolderForm:
    choices = [(value, label) for value, label in services.folder_choices(acting_user()) if value != str(exclude)]
    form.parent_id.choices = [("", "Top level")] + choices
    return form


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    """A new folder (optionally inside another: ?parent=<id>)."""
    form = _with_parent_choices(FolderForm(parent_id=request.args.get("parent", "")))
    if form.validate_on_submit():
        try:
            folder = services.create_folder(acting_user(), form.name.data, parent_id=_parse_uuid(form.parent_id.data),
                                            color=form.color.data, icon=form.icon.data)
        except (ValidationFailed, Conflict) as error:
            form.parent_id.errors.append(error.message)
        else:
            return _done(f"Folder “{folder.name}” created.")
    return render_template("folders/form.html", form=form, folder=None)


@bp.route("/<uuid:folder_id>", methods=["GET", "POST"])
@login_required
def edit(folder_id: uuid.UUID):
    """Rename, recolour or move a folder; the page also offers reorder and delete."""
    folder = services.get_folder_for(acting_user(), folder_id)
    form = _with_parent_choices(FolderForm(obj=folder, parent_id=str(folder.parent_id or "")), exclude=folder.id)
    if form.validate_on_submit():
        try:
            services.update_folder(acting_user(), folder, name=form.name.data, color=form.color.data,
                                   icon=form.icon.data, parent_id=_parse_uuid(form.parent_id.data))
        except (ValidationFailed, Conflict) as error:
            form.parent_id.errors.append(error.message)
        else:
            return _done("Folder saved.")
    return render_template("folders/form.html", form=form, folder=folder)


def _done(message: str):
    """A folder changed: the sidebar reloads (htmx), or back to the chat page."""
    return done(message, url_for("chat.new_chat"), events=SIDEBAR_CHANGED)


@bp.post("/<uuid:folder_id>/delete")
@login_required
def delete(folder_id: uuid.UUID):
    """Delete a folder; what was inside moves up a level, nothing is lost."""
    folder = services.get_folder_for(acting_user(), folder_id)
    name = folder.name
    conversations, folders = services.delete_folder(acting_user(), folder)
    return _done(f"Folder “{name}” deleted; {conversations} conversation(s) and {folders} folder(s) moved up a level.")


@bp.post("/<uuid:folder_id>/move")
@login_required
def move(folder_id: uuid.UUID):
    """Move a folder up or down among its siblings."""
    direction = request.form.get("direction")
    if direction not in ("up", "down"):
        raise ValidationFailed("Direction must be up or down.")
    services.move_folder(acting_user(), services.get_folder_for(acting_user(), folder_id), direction)
    return _done("Order saved.")


@bp.post("/<uuid:folder_id>/expanded")
@login_required
def expanded(folder_id: uuid.UUID):
    """Remember whether the folder is open in the sidebar."""
    folder = services.get_folder_for(acting_user(), folder_id)
    services.set_expanded(acting_user(), folder, request.form.get("expanded") == "1")
    return "", 204


@bp.get("/<uuid:folder_id>/conversations")
@login_required
def conversations(folder_id: uuid.UUID):
    """More of a folder's conversations (its "show more" row)."""
    folder = services.get_folder_for(acting_user(), folder_id)
    page = page_number(default=2)
    rows, has_more = services.folder_conversations(acting_user(), folder, page)
    return render_template("folders/_conversation_rows.html", folder=folder, conversations=rows,
                           has_more=has_more, page=page, current_id=request.args.get("current", ""))
