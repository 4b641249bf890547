"""Views under /chat. Thin: parse the form, call one service, render the page or the fragment."""
from __future__ import annotations

import uuid

from flask import Response, current_app, redirect, render_template, request, stream_with_context, url_for
from flask_limiter import RateLimitExceeded
from htmx_flask import make_response
from markupsafe import Markup

from app.ai_models import services as model_services
from app.billing import limits as billing_limits
from app.billing import organisations as billing_organisations
from app.chat import bp, services, streaming
from app.chat import search as chat_search
from app.chat.forms import ComposerForm, EditMessageForm, FeedbackForm, OptionsOnlyForm, RenameForm, SettingsForm
from app.core.forms import submitted_or_refuse
from app.core.pages import SIDEBAR_CHANGED, done, htmx_target, is_htmx, page_number, toast_headers
from app.errors import Conflict, DomainError, Forbidden, LimitReached, NotFound, ValidationFailed, refusal_headers
from app.errors.handlers import error_response
from app.folders import services as folder_services
from app.prompts import services as prompt_services
from app.security import rate_limits
from app.security.roles import acting_user, login_required


def _prepare_model_choices(form, conversation=None, models=None):
    """Fill the model picker with what the user's role allows; default to the conversation's model."""
    models = models if models is not None else model_services.models_for_role(acting_user().role)
    form.model_id.choices = [(m.id, m.picker_label) for m in models]
    if not form.model_id.data and models:
        current = conversation.model_id if conversation else None
        form.model_id.data = current if any(m.id == current for m in models) else models[0].id
    return form


def _bill_to_choices(form, current=None, billable=None):
    """Fill the "Bill to" picker with the organisations the user may bill (their personal one first)."""
    billable = billable if billable is not None else billing_organisations.billable_organisations(acting_user())
    form.tenant_id.choices = [(str(tenant.id), tenant.name) for tenant, _role in billable]
    if not form.tenant_id.data:
        form.tenant_id.data = str(current) if current else form.tenant_id.choices[0][0]
    return form


def _tenant_id_from(form) -> uuid.UUID | None:
    """The organisation picked in a form (None: the personal one); text that is no id names no organisation."""
    value = (form.tenant_id.data or "").strip()
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("You are not a member of that organisation: choose another one to bill.") from None


def _composer_form(form=None, conversation=None, models=None, billable=None) -> ComposerForm:
    if form is None:
        form = ComposerForm(formdata=None)
        form.fresh_options_html = _fresh_options_html()
    _prepare_model_choices(form, conversation, models)
    if conversation is None:
        _bill_to_choices(form, billable=billable)
    form.client_request_id.data = uuid.uuid4().hex  # a fresh token for every rendered composer
    return form


def _fresh_options_html() -> Markup | None:
    """The option fields of a fresh composer (empty, no errors): the same HTML for everyone, so it is
    rendered once per process (their WTForms markup was a tenth of the chat page's CPU). Not kept
    while templates reload (development)."""
    if current_app.config.get("TEMPLATES_AUTO_RELOAD") or current_app.debug:
        return None
    html = current_app.extensions.get(_FRESH_OPTIONS_KEY)
    if html is None:
        html = Markup(render_template("chat/_composer_options.html", composer=ComposerForm(formdata=None)))
        current_app.extensions[_FRESH_OPTIONS_KEY] = html
    return html


_FRESH_OPTIONS_KEY = "chat.fresh_composer_options"


def _messages_context(page: services.MessagesPage):
    """A page of messages for the templates: with their ratings and earlier versions, and which
    messages are the last ones (regenerate, edit) when it is the latest page."""
    messages, is_latest_page = page.messages, not page.has_later
    last = messages[-1] if messages and is_latest_page else None
    last_user = next((m for m in reversed(messages) if m.role == "user"), None) if is_latest_page else None
    return {
        "messages": messages, "has_earlier": page.has_earlier, "has_later": page.has_later,
        "feedback": page.feedback, "previous_versions": page.previous_versions,
        "last_assistant_id": last.id if last is not None and last.role == "assistant" else None,
        "last_user_id": last_user.id if last_user else None,
    }


def _page(conversation=None, composer=None, settings_form=None, status=200, at_message_id=None, models=None):
    """The chat page: sidebar, the conversation (or the empty new-chat state), the composer.
    With `at_message_id`, the messages shown are those around that one (a search result)."""
    models = models if models is not None else model_services.models_for_role(acting_user().role)
    billing = billing_limits.for_chat_page(acting_user(), conversation.tenant_id if conversation else None)
    context = {"conversation": conversation, "sidebar": services.sidebar_page(acting_user()),
               "folders": folder_services.folder_tree(acting_user()), "limit_warnings": billing.warnings,
               "composer": _composer_form(composer, conversation, models, billing.choices)}
    if conversation is not None:
        page = services.messages_page(acting_user(), conversation, around_id=at_message_id)
        for message in page.messages:
            if message.is_streaming:
                streaming.reap_if_stale(message)
        context.update(target_id=at_message_id, **_messages_context(page))
        settings = settings_form or SettingsForm(formdata=None, prefix="settings",
                                                system_prompt=conversation.system_prompt,
                                                is_summary_enabled=conversation.is_summary_enabled)
        context["settings_form"] = _prepare_model_choices(settings, conversation, models)
        context["folder_choices"] = folder_services.folder_choices(acting_user(), context["folders"])
        _bill_to_choices(context["settings_form"], conversation.tenant_id, billing.choices)
    return render_template("chat/page.html", **context), status


@bp.get("")
@login_required
def new_chat():
    """A new conversation: the composer (filled when coming from "Use" on a prompt), with the sidebar."""
    composer = None
    filled = prompt_services.filled_text_for_use(acting_user(), request.args.get("prompt_use"))
    if filled:
        composer = ComposerForm(formdata=None, content=filled)
    return _page(composer=composer)


def _refused_send(error: DomainError, composer, conversation=None, models=None):
    """A send refused by its service: htmx keeps the composer as it is (an error answer is not
    swapped) and shows a toast; a plain form gets its page again, with the text and the reason."""
    if is_htmx():
        raise error
    composer.content.errors.append(error.message)
    return _page(conversation, composer=composer, status=error.status, models=models)


@bp.post("")
@login_required
@rate_limits.messages
def start_chat():
    """Open a conversation with its first message; the answer starts streaming at once."""
    # `models` stays referenced while the service runs: the session's identity map then answers its
    # lookup of the chosen model without a second query.
    models = model_services.models_for_role(acting_user().role)
    form = _prepare_model_choices(ComposerForm(), models=models)
    if not form.validate_on_submit():
        return _page(composer=form, models=models)
    try:
        conversation, assistant = services.start_conversation(
            acting_user(), form.model_id.data, form.content.data, form.generation_options(),
            form.client_request_id.data, tenant_id=_tenant_id_from(form), keep_loaded=True)
    except ValidationFailed as error:
        form.content.errors.append(error.message)
        return _page(composer=form, models=models)
    except (NotFound, Forbidden, Conflict) as error:  # an organisation left or a model withdrawn meanwhile
        return _refused_send(error, form, models=models)
    if assistant is not None:
        streaming.start_generation(assistant.id)
    return done(None, url_for("chat.show", conversation_id=conversation.id), navigate=True)


@bp.get("/<uuid:conversation_id>")
@login_required
def show(conversation_id: uuid.UUID):
    """One conversation (its last 50 messages); `?before=` gives the earlier ones to htmx."""
    conversation = services.get_conversation_for(acting_user(), conversation_id)
    before = request.args.get("before")
    if before and htmx_target() == "load-earlier":
        try:
            before_id = uuid.UUID(before)
        except ValueError as err:
            raise ValidationFailed("That page of messages does not exist.") from err
        page = services.messages_page(acting_user(), conversation, before_id=before_id)
        page.has_later = True  # an earlier page: its last messages are not the conversation's last
        return render_template("chat/_earlier.html", conversation=conversation, target_id=None,
                               **_messages_context(page))
    at = request.args.get("at")
    if at:
        try:
            return _page(conversation, at_message_id=uuid.UUID(at))
        except ValueError:
            raise ValidationFailed("That message does not exist.") from None
    return _page(conversation)


@bp.get("/sidebar")
@login_required
def sidebar():
    """The conversation list: the whole first page, or the rows after a cursor (infinite scroll)."""
    cursor = request.args.get("cursor")
    query = request.args.get("q", "").strip()
    if query and not cursor:  # the title filter at the top of the sidebar
        return render_template("chat/_sidebar_filtered.html", query=query, current_id=request.args.get("current"),
                               titles=chat_search.matching_titles(acting_user(), query))
    page = services.sidebar_page(acting_user(), cursor)
    if cursor:
        return render_template("chat/_sidebar_rows.html", sidebar=page, current_id=request.args.get("current"))
    return render_template("chat/_sidebar_list.html", sidebar=page, folders=folder_services.folder_tree(acting_user()),
                           current_id=request.args.get("current"))


@bp.get("/search")
@login_required
@rate_limits.searches
def search():
    """Full-text search over the user's conversations; typing swaps only the results."""
    query = request.args.get("q", "")[:chat_search.MAX_QUERY_CHARS]
    results = chat_search.search(acting_user(), query, page_number(maximum=500))
    if htmx_target() == "search-results":
        return render_template("chat/_search_results.html", results=results)
    return render_template("chat/search.html", results=results)


@bp.get("/archive")
@login_required
def archive_list():
    """Archived conversations, out of the sidebar, with restore and delete."""
    page = page_number()
    conversations, has_more = services.archived_page(acting_user(), page)
    return render_template("chat/archive.html", conversations=conversations, has_more=has_more, page=page)


def _composer_errors_response(form, conversation, models=None):
    """Re-render the composer with its messages, keeping what was typed (200, so htmx swaps it)."""
    html = render_template("chat/_composer.html", composer=_composer_form(form, conversation, models),
                           conversation=conversation)
    return make_response(html, retarget="#composer", reswap="outerHTML")


@bp.post("/<uuid:conversation_id>/messages")
@login_required
@rate_limits.messages
def send_message(conversation_id: uuid.UUID):
    """Store the message and an answer to stream; htmx gets both messages, a fresh composer and the
    conversation's sidebar row moved to the top (it is the most recent now)."""
    conversation = services.get_conversation_for(acting_user(), conversation_id)
    models = model_services.models_for_role(acting_user().role)
    form = _prepare_model_choices(ComposerForm(), conversation, models)
    if not form.validate_on_submit():
        if is_htmx():
            return _composer_errors_response(form, conversation, models)
        return _page(conversation, composer=form, models=models)
    try:
        user_message, assistant = services.send_message(acting_user(), conversation, form.model_id.data,
                                                        form.content.data, form.generation_options(),
                                                        form.client_request_id.data, keep_loaded=True)
    except ValidationFailed as error:
        form.content.errors.append(error.message)
        if is_htmx():
            return _composer_errors_response(form, conversation, models)
        return _page(conversation, composer=form, models=models)
    except (NotFound, Forbidden, Conflict) as error:  # e.g. billed to an organisation the user has left
        return _refused_send(error, form, conversation, models)
    if assistant is None:  # the same composer sent twice: the first one counts
        return done(None, url_for("chat.show", conversation_id=conversation.id))
    streaming.start_generation(assistant.id)
    if not is_htmx():
        return redirect(url_for("chat.show", conversation_id=conversation.id), code=303)
    # A conversation in a folder has its place among the folder's (pinned first, paged): the sidebar
    # reloads; one outside folders has its row moved to the top of its list, out of band.
    events = SIDEBAR_CHANGED if conversation.folder_id and not conversation.is_archived else None
    html = render_template("chat/_sent.html", conversation=conversation, new_messages=[user_message, assistant],
                           composer=_composer_form(None, conversation, models), feedback={},
                           last_assistant_id=assistant.id, last_user_id=user_message.id,
                           current_id=str(conversation.id))
    return make_response(html, trigger=events)


@bp.get("/<uuid:conversation_id>/stream/<uuid:message_id>")
@login_required
def stream(conversation_id: uuid.UUID, message_id: uuid.UUID):
    """Server-Sent Events of one answer: the text after Last-Event-ID (or ?after=), then live text."""
    services.check_message_of(acting_user(), conversation_id, message_id)  # checked before any byte is sent
    text_offset, reasoning_offset = streaming.parse_offsets(
        request.headers.get("Last-Event-ID") or request.args.get("after"))

    def render_final(final_message):
        # Fresh totals and title: the generator changed them in another session.
        refreshed, versions = services.conversation_after_answer(acting_user(), conversation_id, final_message)
        return render_template("chat/_answer_done.html", message=final_message, conversation=refreshed,
                               feedback={}, last_assistant_id=final_message.id, previous_versions=versions)

    events = streaming.follow_message(message_id, text_offset, reasoning_offset, render_final)
    return Response(stream_with_context(events), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@bp.errorhandler(LimitReached)
@bp.errorhandler(RateLimitExceeded)
def refused(error):
    """A refused send keeps what was typed: htmx leaves the composer as it is (an error answer is
    not swapped) and shows a toast; the plain composer form gets its page again, with the text."""
    if isinstance(error, RateLimitExceeded):
        error = rate_limits.as_limit_reached(error)
    billing_link = getattr(error, "billing_link", None)  # a plan's limit: where to see it and upgrade
    if is_htmx() and billing_link:
        return "", error.status, toast_headers(error.message, "error", link=(billing_link, "Open billing"))
    if is_htmx() or request.endpoint not in ("chat.start_chat", "chat.send_message"):
        return error_response(error.status, error.message, refusal_headers(error))
    conversation_id = request.view_args.get("conversation_id")
    try:
        conversation = services.get_conversation_for(acting_user(), conversation_id) if conversation_id else None
    except NotFound:  # limits are checked before the view: the address may name no conversation of theirs
        return error_response(error.status, error.message, refusal_headers(error))
    form = _prepare_model_choices(ComposerForm(), conversation)
    form.content.errors = [error.message]
    form.billing_link = billing_link
    html, _ = _page(conversation, composer=form)
    return html, error.status, refusal_headers(error)


def _after_action(conversation, message: str, location: str | None = None):
    """htmx: a toast and a sidebar refresh; a plain form: back to the conversation."""
    return done(message, location or url_for("chat.show", conversation_id=conversation.id), events=SIDEBAR_CHANGED)


@bp.post("/<uuid:conversation_id>/stop")
@login_required
def stop(conversation_id: uuid.UUID):
    """Stop the answer being written; the text so far is kept."""
    conversation = services.get_conversation_for(acting_user(), conversation_id)
    stopped = services.request_stop(acting_user(), conversation)
    return _after_action(conversation, "Stopped. The text so far is kept." if stopped else "Nothing is being written.")


def _stream_new_answer(conversation, assistant):
    """After regenerate or edit: start writing the new answer; htmx gets the message list again (the old
    version folded away, the new answer streaming), a plain form post goes back to the conversation (303)."""
    streaming.start_generation(assistant.id)
    if not is_htmx():
        return redirect(url_for("chat.show", conversation_id=conversation.id), code=303)
    page = services.messages_page(acting_user(), conversation)
    return render_template("chat/_messages.html", conversation=conversation, **_messages_context(page))


@bp.post("/<uuid:conversation_id>/regenerate")
@login_required
@rate_limits.messages
def regenerate(conversation_id: uuid.UUID):
    """Replace the last answer (also the retry of a failed one)."""
    conversation = services.get_conversation_for(acting_user(), conversation_id)
    form = submitted_or_refuse(_prepare_model_choices(OptionsOnlyForm(), conversation))
    assistant = services.regenerate_last_answer(acting_user(), conversation, form.model_id.data,
                                                form.generation_options())
    return _stream_new_answer(conversation, assistant)


@bp.post("/<uuid:conversation_id>/edit")
@login_required
@rate_limits.messages
def edit_last(conversation_id: uuid.UUID):
    """Change the last message and send it again."""
    conversation = services.get_conversation_for(acting_user(), conversation_id)
    form = submitted_or_refuse(_prepare_model_choices(EditMessageForm(), conversation))
    assistant = services.edit_last_user_message(acting_user(), conversation, form.model_id.data, form.content.data,
                                                form.generation_options())
    return _stream_new_answer(conversation, assistant)


@bp.route("/<uuid:conversation_id>/rename", methods=["GET", "POST"])
@login_required
def rename(conversation_id: uuid.UUID):
    """Click-to-edit the title (the form on GET, the saved title on POST)."""
    conversation = services.get_conversation_for(acting_user(), conversation_id)
    if request.method == "GET":
        form = RenameForm(formdata=None, title=conversation.title)
        return render_template("chat/_rename_form.html", conversation=conversation, form=form)
    form = RenameForm()
    if not form.validate_on_submit():
        return render_template("chat/_rename_form.html", conversation=conversation, form=form)
    services.rename(acting_user(), conversation, form.title.data)
    return done("Renamed.", url_for("chat.show", conversation_id=conversation.id),
                fragment=render_template("chat/_title.html", conversation=conversation), events=SIDEBAR_CHANGED)


@bp.get("/<uuid:conversation_id>/title")
@login_required
def title(conversation_id: uuid.UUID):
    """The title row (what Cancel of the rename form shows again)."""
    conversation = services.get_conversation_for(acting_user(), conversation_id)
    return render_template("chat/_title.html", conversation=conversation)


@bp.get("/<uuid:conversation_id>/menu")
@login_required
def item_menu(conversation_id: uuid.UUID):
    """The actions of a sidebar item, loaded when its menu opens (the list itself stays light)."""
    conversation = services.get_conversation_for(acting_user(), conversation_id)
    return render_template("chat/_item_menu.html", conversation=conversation)


@bp.post("/<uuid:conversation_id>/pin")
@login_required
def pin(conversation_id: uuid.UUID):
    """Pin or unpin (form field `pinned` = 1 or 0)."""
    return _switch(conversation_id, "pinned", services.set_pinned, "Pinned.", "Unpinned.")


@bp.post("/<uuid:conversation_id>/archive")
@login_required
def archive(conversation_id: uuid.UUID):
    """Archive or restore (form field `archived` = 1 or 0)."""
    return _switch(conversation_id, "archived", services.set_archived, "Archived.", "Restored from the archive.")


def _switch(conversation_id: uuid.UUID, field: str, set_flag, on_message: str, off_message: str):
    """Turn a yes/no of the user's conversation on or off as form field `field` says (1, the default, or 0)."""
    conversation = services.get_conversation_for(acting_user(), conversation_id)
    is_on = request.form.get(field, "1") == "1"
    set_flag(acting_user(), conversation, is_on)
    return _after_action(conversation, on_message if is_on else off_message)


@bp.post("/<uuid:conversation_id>/folder")
@login_required
def move_to_folder(conversation_id: uuid.UUID):
    """Put the conversation in a folder (menu or drag-and-drop); an empty folder_id takes it out."""
    conversation = services.get_conversation_for(acting_user(), conversation_id)
    raw = request.form.get("folder_id") or None
    try:
        folder_id = uuid.UUID(raw) if raw else None
    except ValueError:
        raise ValidationFailed("That folder does not exist.") from None
    folder = folder_services.move_conversation(acting_user(), conversation, folder_id)
    return _after_action(conversation, f"Moved to “{folder.name}”." if folder else "Moved out of its folder.")


@bp.post("/<uuid:conversation_id>/delete")
@login_required
def delete(conversation_id: uuid.UUID):
    """Delete a conversation and its messages (the page asks first)."""
    conversation = services.get_conversation_for(acting_user(), conversation_id)
    services.delete_conversation(acting_user(), conversation)
    # Deleted while on its own page: htmx leaves the page for a new chat.
    is_open = (request.htmx.current_url or "").rstrip("/").endswith(str(conversation_id))
    return done("Conversation deleted.", url_for("chat.new_chat"), events=SIDEBAR_CHANGED, navigate=is_open)


@bp.post("/<uuid:conversation_id>/settings")
@login_required
def settings(conversation_id: uuid.UUID):
    """Change the conversation's model and system prompt."""
    conversation = services.get_conversation_for(acting_user(), conversation_id)
    form = _prepare_model_choices(SettingsForm(prefix="settings"), conversation)
    if not form.validate_on_submit():
        return _page(conversation, settings_form=form)
    model = model_services.model_for_use(acting_user().role, form.model_id.data)
    services.update_settings(acting_user(), conversation, model, form.system_prompt.data,
                             is_summary_enabled=form.is_summary_enabled.data, tenant_id=_tenant_id_from(form))
    return done("Settings saved.", url_for("chat.show", conversation_id=conversation.id))


@bp.post("/<uuid:conversation_id>/messages/<uuid:message_id>/feedback")
@login_required
def feedback(conversation_id: uuid.UUID, message_id: uuid.UUID):
    """Thumbs up or down on an answer, with an optional comment."""
    conversation = services.get_conversation_for(acting_user(), conversation_id)
    message = services.get_message_in(conversation, message_id)
    form = submitted_or_refuse(FeedbackForm())
    item = services.record_feedback(acting_user(), conversation, message, form.category.data, form.comment.data)
    html = render_template("chat/_feedback.html", conversation=conversation, message=message, rating=item)
    return done("Thanks for the feedback.", url_for("chat.show", conversation_id=conversation.id), fragment=html)
