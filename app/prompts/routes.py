"""Views for /prompts and /moderation/prompts. Thin: parse the form, call one service, render the
page or the fragment."""
from __future__ import annotations

import uuid

from flask import flash, render_template, request, url_for

from app.core.pages import done, is_htmx, page_number, render_page, toast_headers
from app.errors import NotFound
from app.prompts import bp, services
from app.prompts.forms import ModerationForm, PromptForm, use_form_for, values_of, version_number
from app.security.origin import request_origin
from app.security.roles import Role, acting_user, login_required, role_required

moderator_required = role_required(Role.MODERATOR)


def _uuid_or_404(value: str | None) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound("There is no such message.") from None


def _filters() -> dict:
    """The list's tab, search text, tags, sort and page, from the query string (unknown values ignored)."""
    tab = request.args.get("tab", "mine")
    sort = request.args.get("sort", "newest")
    tags_text = request.args.get("tags", "")[:600]
    return {
        "tab": tab if tab in services.TABS else "mine",
        "query": request.args.get("q", "")[:services.MAX_QUERY_CHARS],
        "tag_names": services.filter_tag_names(tags_text),
        "sort": sort if sort in services.SORTS else "newest",
        "page": page_number(),
    }


@bp.get("/prompts")
@login_required
def index():
    """The library: my prompts or the public ones, searched, filtered by tags, sorted, paged.
    The filter form swaps only the results."""
    filters = _filters()
    result = services.list_prompts(acting_user(), filters["tab"], filters["query"], filters["tag_names"],
                                   filters["sort"], filters["page"])
    return render_page("prompts/index.html", {"prompt-results": "prompts/_results.html"},
                       result=result, tags_text=", ".join(filters["tag_names"]), **filters)


@bp.get("/prompts/tags")
@login_required
def tag_options():
    """Autocomplete for a comma-separated tags field: <option>s that complete its last tag."""
    typed = request.args.get("tags", "")[:600]
    head, _, last = typed.rpartition(",")
    earlier = services.filter_tag_names(head, limit=services.MAX_TAGS)
    prefix = ", ".join(earlier) + ", " if earlier else ""
    names = [name for name in services.tag_suggestions(acting_user(), last) if name not in earlier]
    return render_template("prompts/_tag_options.html", options=[prefix + name for name in names])


def _form_page(form, prompt=None, current=None, conflict=None, status=200):
    return render_template("prompts/form.html", form=form, prompt=prompt, current=current, conflict=conflict), status


def _field_error(form, error: services.PromptInvalid) -> None:
    field = getattr(form, error.field, None) if error.field else None
    (field.errors if field is not None else form.form_errors).append(error.message)


def _saved_message(prompt) -> str:
    if prompt.moderation_status == "pending":
        return "Saved. A moderator reviews it before others can see it."
    return "Saved."


@bp.route("/prompts/new", methods=["GET", "POST"])
@login_required
def new():
    """Write a new prompt; `?from_message=<id>` starts from one of the person's chat messages."""
    if request.method == "GET":
        form = PromptForm(formdata=None)
        source_id = request.args.get("from_message")
        if source_id:
            message = services.source_message_for(acting_user(), _uuid_or_404(source_id))
            form.title.data = services.suggested_title(message.content)
            form.content.data = message.content
            form.from_message.data = str(message.id)
        return _form_page(form)
    form = PromptForm()
    if not form.validate_on_submit():
        return _form_page(form)
    source_id = _uuid_or_404(form.from_message.data) if form.from_message.data else None
    try:
        prompt = services.create_prompt(acting_user(), form.to_input(), from_message_id=source_id)
    except services.PromptInvalid as error:
        _field_error(form, error)
        return _form_page(form)
    return done(_saved_message(prompt), url_for("prompts.show", prompt_id=prompt.id), navigate=True)


@bp.get("/prompts/<uuid:prompt_id>")
@login_required
def show(prompt_id: uuid.UUID):
    """One prompt: its text (escaped, variables highlighted), variables, tags, counts and status."""
    services.count_view(acting_user(), prompt_id)
    prompt = services.get_prompt_for(acting_user(), prompt_id)
    return render_page("prompts/show.html", prompt=prompt, variables=services.variables_of(prompt),
                       is_owner=prompt.user_id == acting_user().id, can_moderate=services.can_moderate(acting_user()))


@bp.route("/prompts/<uuid:prompt_id>/edit", methods=["GET", "POST"])
@login_required
def edit(prompt_id: uuid.UUID):
    """Edit one's prompt. A save based on an older version is refused and the text typed is kept."""
    prompt = services.get_own_prompt(acting_user(), prompt_id)
    if request.method == "GET":
        form = PromptForm(formdata=None, obj=prompt)
        form.tags.data = ", ".join(tag.name for tag in prompt.tags)
        form.version.data = str(prompt.version)
        return _form_page(form, prompt)
    form = PromptForm()
    if not form.validate_on_submit():
        return _form_page(form, prompt)
    try:
        prompt = services.update_prompt(acting_user(), prompt_id, form.to_input(), form.expected_version())
    except services.StalePrompt as stale:
        # Keep what the person typed; show what is saved now; saving again replaces it knowingly.
        form.version.data = str(stale.current.version)
        return _form_page(form, stale.current, current=stale.current, conflict=stale.message, status=409)
    except services.PromptInvalid as error:
        _field_error(form, error)
        return _form_page(form, prompt)
    return done(_saved_message(prompt), url_for("prompts.show", prompt_id=prompt.id), navigate=True)


@bp.post("/prompts/<uuid:prompt_id>/delete")
@login_required
def delete(prompt_id: uuid.UUID):
    """Delete one's prompt (the page asks first); it leaves every list and link."""
    services.delete_prompt(acting_user(), prompt_id)
    return done("Prompt deleted.", url_for("prompts.index"), navigate=True)


@bp.route("/prompts/<uuid:prompt_id>/use", methods=["GET", "POST"])
@login_required
def use(prompt_id: uuid.UUID):
    """Ask for the prompt's variables, then open a new chat with the filled text in the composer."""
    prompt = services.get_prompt_for(acting_user(), prompt_id)
    variables = services.variables_of(prompt)
    if request.method == "GET":
        form = use_form_for(variables, formdata=None)
        return render_page("prompts/use.html", prompt=prompt, form=form)
    form = use_form_for(variables)
    if form.validate_on_submit():
        try:
            event = services.use_prompt(acting_user(), prompt.id, values_of(form))
        except services.PromptInvalid as error:
            fields = {variable.name: field for variable, field in form.variable_fields}
            (fields[error.field].errors if error.field in fields else form.form_errors).append(error.message)
        else:
            return done(None, url_for("chat.new_chat", prompt_use=event.id), navigate=True)
    return render_template("prompts/use.html", prompt=prompt, form=form)


@bp.get("/moderation/prompts")
@moderator_required
def moderation():
    """Public prompts waiting for review, each with approve and reject (with a reason)."""
    result = services.moderation_queue(page_number())
    return render_page("prompts/moderation.html", result=result, form=ModerationForm(formdata=None))


def _decide(prompt_id: uuid.UUID, decision: str):
    form = ModerationForm()
    if not form.validate_on_submit():
        return _moderation_item(prompt_id, error=" ".join(form.reason.errors) or None, reason=form.reason.data)
    try:
        prompt = services.moderate(acting_user(), prompt_id, decision, form.reason.data,
                                   version_number(form.version.data), request_origin())
    except services.PromptInvalid as error:
        return _moderation_item(prompt_id, error=error.message, reason=form.reason.data)
    except services.StalePrompt as stale:
        return _moderation_item(prompt_id, notice=stale.message, prompt=stale.current, reason=form.reason.data)
    message = f"Approved “{prompt.title}”." if decision == "approve" else f"Rejected “{prompt.title}”."
    return done(message, url_for("prompts.moderation"),
                fragment=render_template("prompts/_moderation_item.html", prompt=prompt, decided=True))


def _moderation_item(prompt_id, *, error=None, notice=None, prompt=None, reason=None):
    """The queue item again with what went wrong and the reason typed: the item for htmx, else the queue."""
    if not is_htmx():
        if notice:
            flash(notice, "warning")
        return render_page("prompts/moderation.html", result=services.moderation_queue(1),
                           form=ModerationForm(formdata=None), errors={prompt_id: error}, reasons={prompt_id: reason})
    prompt = prompt or services.get_prompt_for(acting_user(), prompt_id)
    html = render_template("prompts/_moderation_item.html", prompt=prompt, item_error=error, item_notice=notice,
                           item_reason=reason, decided=prompt.moderation_status != "pending")
    return html, 200, toast_headers(notice or error or "Check the form.", level="warning" if notice else "error")


@bp.post("/moderation/prompts/<uuid:prompt_id>/approve")
@moderator_required
def approve(prompt_id: uuid.UUID):
    """Publish a pending prompt."""
    return _decide(prompt_id, "approve")


@bp.post("/moderation/prompts/<uuid:prompt_id>/reject")
@moderator_required
def reject(prompt_id: uuid.UUID):
    """Refuse a pending prompt, with a reason the author sees."""
    return _decide(prompt_id, "reject")
