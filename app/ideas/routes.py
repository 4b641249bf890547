"""Views for /ideas. Thin: parse the form, call one service, render the page or the fragment."""
from __future__ import annotations

import uuid

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.core.pages import (
    htmx_redirect,
    is_htmx,
    page_number,
    render_page,
    toast_headers,
)
from app.errors import ValidationFailed
from app.ideas import bp, services
from app.ideas.forms import IdeaForm, NoteForm, TriageForm
from app.ideas.models import STATUSES
from app.security.origin import request_origin
from app.security.redirects import safe_next_path
from app.security.roles import Role, login_required, role_required


def _user():
    return current_user._get_current_object()


def _form_errors(form) -> str:
    return " ".join(error for errors in form.errors.values() for error in errors)


# --- the board -----------------------------------------------------------------------------------

@bp.get("/ideas")
@login_required
def board():
    """The board: sorted by votes or newest, filtered by status, searchable, paged; the filters
    swap only the results."""
    filters = services.BoardFilters.from_args(
        request.args.get("sort"), request.args.get("status"), request.args.get("q"), page_number())
    page = services.board_page(_user(), filters)
    return render_page("ideas/board.html", {"idea-results": "ideas/_results.html"},
                       page=page, filters=filters, statuses=STATUSES, sorts=services.SORTS)


@bp.route("/ideas/new", methods=["GET", "POST"])
@login_required
def new():
    """Submit an idea: title, description (Markdown) and priority."""
    form = IdeaForm()
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                idea = services.submit_idea(_user(), form.title.data, form.description.data, form.priority_level.data)
            except ValidationFailed as error:
                form.form_errors.append(error.message)
            else:
                return _go_to(url_for("ideas.show", idea_id=idea.id), "Idea submitted. Thank you!")
        if is_htmx():
            return render_template("ideas/_idea_form.html", form=form, idea=None)
    return render_template("ideas/new.html", form=form, idea=None)


def _go_to(location: str, message: str):
    """After a change: htmx navigates, a plain form is redirected (303); both show the message."""
    if is_htmx():
        return htmx_redirect(location, message)
    flash(message, "success")
    return redirect(location, code=303)


# --- one idea ------------------------------------------------------------------------------------

def _show_context(idea, note_form=None, triage_form=None):
    user = _user()
    notes_page_number = page_number()
    notes, has_more_notes = services.notes_page(idea, notes_page_number)
    if triage_form is None and services.is_moderator(user):
        triage_form = TriageForm(formdata=None, status=idea.status, priority_level=idea.priority_level)
    return {
        "idea": idea, "has_voted": services.has_voted(user, idea), "notes": notes,
        "notes_page_number": notes_page_number, "has_more_notes": has_more_notes,
        "note_form": note_form or NoteForm(formdata=None), "triage_form": triage_form,
        "can_edit": services.can_edit_idea(user, idea), "is_moderator": services.is_moderator(user),
    }


@bp.get("/ideas/<uuid:idea_id>")
@login_required
def show(idea_id: uuid.UUID):
    """One idea with its discussion (notes paged, oldest first)."""
    idea = services.get_idea(idea_id)
    return render_template("ideas/show.html", **_show_context(idea))


@bp.post("/ideas/<uuid:idea_id>/vote")
@login_required
def vote(idea_id: uuid.UUID):
    """Toggle the signed-in person's vote; htmx swaps the button and its count in place."""
    count, has_voted = services.toggle_vote(_user(), idea_id)
    next_path = safe_next_path(request.form.get("next"))
    if is_htmx():
        idea = services.get_idea(idea_id)
        return render_template("ideas/_vote.html", idea=idea, has_voted=has_voted, vote_count=count,
                               vote_next=next_path)
    flash("Your vote is counted." if has_voted else "Your vote is taken back.", "success")
    return redirect(next_path or url_for("ideas.show", idea_id=idea_id), code=303)


@bp.route("/ideas/<uuid:idea_id>/edit", methods=["GET", "POST"])
@login_required
def edit(idea_id: uuid.UUID):
    """The author edits their idea while it is new; anybody else is refused (403)."""
    idea = services.get_idea(idea_id)
    services.require_editable_by(_user(), idea)
    if request.method == "GET":
        return render_template("ideas/edit.html", form=IdeaForm(formdata=None, obj=idea), idea=idea)
    form = IdeaForm()
    if form.validate_on_submit():
        try:
            services.edit_idea(_user(), idea, form.title.data, form.description.data, form.priority_level.data)
        except ValidationFailed as error:
            form.form_errors.append(error.message)
        else:
            return _go_to(url_for("ideas.show", idea_id=idea.id), "Idea saved.")
    if is_htmx():
        return render_template("ideas/_idea_form.html", form=form, idea=idea)
    return render_template("ideas/edit.html", form=form, idea=idea)


@bp.post("/ideas/<uuid:idea_id>/delete")
@login_required
def delete(idea_id: uuid.UUID):
    """The author deletes their idea while it is new (the page asks first)."""
    idea = services.get_idea(idea_id)
    services.delete_idea(_user(), idea)
    return _go_to(url_for("ideas.board"), "Idea deleted.")


@bp.post("/ideas/<uuid:idea_id>/triage")
@role_required(Role.MODERATOR)
def triage(idea_id: uuid.UUID):
    """Moderators and admins set status and priority (audited)."""
    idea = services.get_idea(idea_id)
    form = TriageForm()
    if not form.validate_on_submit():
        if is_htmx():
            raise ValidationFailed(_form_errors(form))
        return render_template("ideas/show.html", **_show_context(idea, triage_form=form))
    changed = services.triage(_user(), idea, form.status.data, form.priority_level.data, request_origin())
    if not changed:
        if is_htmx():
            return "", 204, toast_headers("Nothing changed.", level="info")
        flash("Nothing changed.", "info")
        return redirect(url_for("ideas.show", idea_id=idea_id), code=303)
    idea = services.get_idea(idea_id)
    return _go_to(url_for("ideas.show", idea_id=idea_id),
                  f"Triage saved: {idea.status_label.lower()}, {idea.priority_label.lower()} priority.")


# --- notes ---------------------------------------------------------------------------------------

@bp.post("/ideas/<uuid:idea_id>/notes")
@login_required
def add_note(idea_id: uuid.UUID):
    """Add a note to the discussion; htmx appends it and clears the form."""
    idea = services.get_idea(idea_id)
    form = NoteForm()
    if form.validate_on_submit():
        try:
            note = services.add_note(_user(), idea, form.content.data)
        except ValidationFailed as error:
            form.content.errors = [*form.content.errors, error.message]
        else:
            if not is_htmx():
                flash("Note added.", "success")
                return redirect(url_for("ideas.show", idea_id=idea_id, _anchor=f"note-{note.id}"), code=303)
            note = services.get_note_in(idea, note.id)
            _votes, note_count = services.refreshed_counts(idea_id)
            return (render_template("ideas/_note_added.html", idea=idea, note=note, note_count=note_count,
                                    note_form=NoteForm(formdata=None), is_moderator=services.is_moderator(_user())),
                    200, toast_headers("Note added."))
    if is_htmx():
        html = render_template("ideas/_note_form.html", idea=idea, note_form=form)
        return html, 200, {"HX-Retarget": "#note-form", "HX-Reswap": "outerHTML"}
    return render_template("ideas/show.html", **_show_context(idea, note_form=form))


@bp.post("/ideas/<uuid:idea_id>/notes/<uuid:note_id>/delete")
@login_required
def delete_note(idea_id: uuid.UUID, note_id: uuid.UUID):
    """Delete one's own note; moderators delete any (audited). The page asks first."""
    idea = services.get_idea(idea_id)
    note = services.get_note_in(idea, note_id)
    services.delete_note(_user(), idea, note, request_origin())
    if not is_htmx():
        flash("Note deleted.", "success")
        return redirect(url_for("ideas.show", idea_id=idea_id), code=303)
    _votes, note_count = services.refreshed_counts(idea_id)
    return (render_template("ideas/_note_count.html", note_count=note_count, oob=True), 200,
            toast_headers("Note deleted."))

