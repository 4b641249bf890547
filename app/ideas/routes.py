"""Views for /ideas. Thin: parse the form, call one service, render the page or the fragment."""
from __future__ import annotations

import uuid

from flask import flash, redirect, render_template, request, url_for
from htmx_flask import make_response

from app.core.forms import errors_text
from app.core.pages import done, is_htmx, page_number, render_page
from app.errors import ValidationFailed
from app.ideas import bp, services
from app.ideas.forms import IdeaForm, NoteForm, TriageForm
from app.ideas.models import STATUSES
from app.security.origin import request_origin
from app.security.redirects import safe_next_path
from app.security.roles import Role, acting_user, login_required, role_required

# --- the board -----------------------------------------------------------------------------------

@bp.get("/ideas")
@login_required
def board():
    """The board: sorted by votes or newest, filtered by status, searchable, paged; the filters
    swap only the results."""
    filters = services.BoardFilters.from_args(
        request.args.get("sort"), request.args.get("status"), request.args.get("q"), page_number())
    page = services.board_page(acting_user(), filters)
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
                idea = services.submit_idea(acting_user(), form.title.data, form.description.data,
                                            form.priority_level.data)
            except ValidationFailed as error:
                form.form_errors.append(error.message)
            else:
                return done("Idea submitted. Thank you!", url_for("ideas.show", idea_id=idea.id), navigate=True)
        return _idea_form(form, None, "ideas/new.html")
    return render_template("ideas/new.html", form=form, idea=None)


def _idea_form(form, idea, page_template: str):
    """The idea form again with its errors: the form alone for htmx, else the whole page."""
    return render_template("ideas/_idea_form.html" if is_htmx() else page_template, form=form, idea=idea)


# --- one idea ------------------------------------------------------------------------------------

def _show_context(idea, note_form=None, triage_form=None):
    user = acting_user()
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
    count, has_voted = services.toggle_vote(acting_user(), idea_id)
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
    services.require_editable_by(acting_user(), idea)
    if request.method == "GET":
        return render_template("ideas/edit.html", form=IdeaForm(formdata=None, obj=idea), idea=idea)
    form = IdeaForm()
    if form.validate_on_submit():
        try:
            services.edit_idea(acting_user(), idea, form.title.data, form.description.data, form.priority_level.data)
        except ValidationFailed as error:
            form.form_errors.append(error.message)
        else:
            return done("Idea saved.", url_for("ideas.show", idea_id=idea.id), navigate=True)
    return _idea_form(form, idea, "ideas/edit.html")


@bp.post("/ideas/<uuid:idea_id>/delete")
@login_required
def delete(idea_id: uuid.UUID):
    """The author deletes their idea while it is new (the page asks first)."""
    idea = services.get_idea(idea_id)
    services.delete_idea(acting_user(), idea)
    return done("Idea deleted.", url_for("ideas.board"), navigate=True)


@bp.post("/ideas/<uuid:idea_id>/triage")
@role_required(Role.MODERATOR)
def triage(idea_id: uuid.UUID):
    """Moderators and admins set status and priority (audited)."""
    idea = services.get_idea(idea_id)
    form = TriageForm()
    if not form.validate_on_submit():
        if is_htmx():
            raise ValidationFailed(errors_text(form))
        return render_template("ideas/show.html", **_show_context(idea, triage_form=form))
    changed = services.triage(acting_user(), idea, form.status.data, form.priority_level.data, request_origin())
    if not changed:
        return done("Nothing changed.", url_for("ideas.show", idea_id=idea_id), level="info")
    idea = services.get_idea(idea_id)
    return done(f"Triage saved: {idea.status_label.lower()}, {idea.priority_label.lower()} priority.",
                url_for("ideas.show", idea_id=idea_id), navigate=True)


# --- notes ---------------------------------------------------------------------------------------

@bp.post("/ideas/<uuid:idea_id>/notes")
@login_required
def add_note(idea_id: uuid.UUID):
    """Add a note to the discussion; htmx appends it and clears the form."""
    idea = services.get_idea(idea_id)
    form = NoteForm()
    if form.validate_on_submit():
        try:
            note = services.add_note(acting_user(), idea, form.content.data)
        except ValidationFailed as error:
            form.content.errors = [*form.content.errors, error.message]
        else:
            return done("Note added.", url_for("ideas.show", idea_id=idea_id, _anchor=f"note-{note.id}"),
                        fragment=_note_added(idea, note.id) if is_htmx() else None)
    if is_htmx():
        html = render_template("ideas/_note_form.html", idea=idea, note_form=form)
        return make_response(html, retarget="#note-form", reswap="outerHTML")
    return render_template("ideas/show.html", **_show_context(idea, note_form=form))


def _note_added(idea, note_id: uuid.UUID) -> str:
    """The new note, the refreshed note count and an empty form, swapped in one answer."""
    _votes, note_count = services.refreshed_counts(idea.id)
    return render_template("ideas/_note_added.html", idea=idea, note=services.get_note_in(idea, note_id),
                           note_count=note_count, note_form=NoteForm(formdata=None),
                           is_moderator=services.is_moderator(acting_user()))


@bp.post("/ideas/<uuid:idea_id>/notes/<uuid:note_id>/delete")
@login_required
def delete_note(idea_id: uuid.UUID, note_id: uuid.UUID):
    """Delete one's own note; moderators delete any (audited). The page asks first."""
    idea = services.get_idea(idea_id)
    note = services.get_note_in(idea, note_id)
    services.delete_note(acting_user(), idea, note, request_origin())
    fragment = None
    if is_htmx():
        _votes, note_count = services.refreshed_counts(idea_id)
        fragment = render_template("ideas/_note_count.html", note_count=note_count, oob=True)
    return done("Note deleted.", url_for("ideas.show", idea_id=idea_id), fragment=fragment)

