"""Views under /admin: every one requires the admin role."""
from __future__ import annotations

import uuid
from datetime import date, timedelta

from flask import current_app, render_template, request, url_for

from app.admin import audit as audit_log
from app.admin import bp, feedback, overview, services
from app.admin.exports import csv_response
from app.admin.forms import FeedbackReviewForm, NavigationItemForm, RoleForm, TwoFactorPolicyForm
from app.auth import password_reset, two_factor
from app.auth import services as auth_services
from app.core.forms import errors_text
from app.core.pages import done, is_htmx, page_number, render_page
from app.errors import ValidationFailed
from app.nav import services as nav_services
from app.security.origin import request_origin
from app.security.roles import ROLE_RANK, Role, acting_user, role_required
from app.usage import services as usage

admin_required = role_required(Role.ADMIN)


@bp.get("")
@admin_required
def dashboard():
    """Overview: activity, money this month against last, failing models, the queues."""
    return render_page("admin/dashboard.html", counts=services.counts(), overview=overview.overview())


@bp.get("/users")
@admin_required
def users():
    """Users, searchable, filtered by role and status, and paged; the filters swap only the rows."""
    query = request.args.get("q", "")
    role = request.args.get("role") if request.args.get("role") in ROLE_RANK else ""
    status = request.args.get("status") if request.args.get("status") in services.USER_STATUSES else ""
    page = page_number()
    rows, has_more = services.search_users(query, page, role, status)
    return render_page(
        "admin/users.html", {"user-rows": "admin/_user_rows.html"},
        users=rows, has_more=has_more, query=query, role=role, status=status, page=page,
        role_form=RoleForm(formdata=None),
    )


@bp.get("/users/<uuid:user_id>")
@admin_required
def user_detail(user_id: uuid.UUID):
    """One user: sign-in events, live sessions, usage and cost."""
    user = services.get_user(user_id)
    today = usage.today_utc()
    this_month = overview.month_start(today)
    last_month = overview.previous_month_start(today)
    tomorrow = today + timedelta(days=1)
    return render_page(
        "admin/user_detail.html", user=user, events=services.recent_auth_events(user.id),
        sessions=auth_services.list_active_sessions(user, current_app.config),
        usage_this_month=usage.totals_between(this_month, tomorrow, user.id),
        usage_last_month=usage.totals_between(last_month, this_month, user.id),
        models=usage.by_model(today - timedelta(days=89), tomorrow, limit=20, user_id=user.id))


@bp.post("/users/<uuid:user_id>/sessions/revoke")
@admin_required
def revoke_user_sessions(user_id: uuid.UUID):
    """Sign a user out of every browser at once."""
    ended = services.revoke_all_sessions(acting_user(), user_id, request_origin())
    return done(f"Ended {ended} session{'s' if ended != 1 else ''}.", url_for("admin.user_detail", user_id=user_id),
                navigate=True)


@bp.post("/users/<uuid:user_id>/password-reset-link")
@admin_required
def make_password_reset_link(user_id: uuid.UUID):
    """A password reset link to hand over (works without a mail server): shown once, valid an hour."""
    link = password_reset.make_reset_link(acting_user(), user_id, request_origin())
    return render_template("auth/reset_link.html", user=services.get_user(user_id), link=link)


@bp.get("/signups")
@admin_required
def signups():
    """Accounts waiting for approval, oldest first."""
    page = page_number()
    rows, has_more = services.pending_signups(page)
    return render_page("admin/signups.html", users=rows, has_more=has_more, page=page,
                       approval_required=current_app.config["SIGNUP_APPROVAL"])


def _decide(user_id: uuid.UUID, approve: bool):
    user = services.decide_signup(acting_user(), user_id, approve, request_origin())
    message = f"{user.email} can use Studio now." if approve else f"{user.email} was rejected and signed out."
    return done(message, url_for("admin.signups"), fragment="")


@bp.post("/signups/<uuid:user_id>/approve")
@admin_required
def approve_signup(user_id: uuid.UUID):
    """Let a waiting account in."""
    return _decide(user_id, True)


@bp.post("/signups/<uuid:user_id>/reject")
@admin_required
def reject_signup(user_id: uuid.UUID):
    """Turn a waiting account away (deactivated)."""
    return _decide(user_id, False)


def _user_row_response(user, message: str):
    return done(message, url_for("admin.users"), fragment=render_template("admin/_user_row.html", user=user))


@bp.post("/users/<uuid:user_id>/role")
@admin_required
def change_role(user_id: uuid.UUID):
    """Change a user's role."""
    form = RoleForm()
    if not form.validate():
        raise ValidationFailed("Choose one of the listed roles.")
    user = services.change_role(acting_user(), user_id, form.role.data, request_origin())
    return _user_row_response(user, f"{user.display_name} is now {user.role}.")


@bp.post("/users/<uuid:user_id>/deactivate")
@admin_required
def deactivate_user(user_id: uuid.UUID):
    """Deactivate an account; its sessions end immediately."""
    user = services.set_active(acting_user(), user_id, False, request_origin())
    return _user_row_response(user, f"{user.display_name} is deactivated and signed out.")


@bp.post("/users/<uuid:user_id>/reactivate")
@admin_required
def reactivate_user(user_id: uuid.UUID):
    """Let a deactivated account sign in again."""
    user = services.set_active(acting_user(), user_id, True, request_origin())
    return _user_row_response(user, f"{user.display_name} can sign in again.")


@bp.get("/security")
@admin_required
def security():
    """Which roles must sign in with two factors, and a warning for an admin who has not set it up."""
    required = two_factor.roles_requiring_two_factor()
    form = TwoFactorPolicyForm(formdata=None, **{f"{role}_required": role in required for role in ROLE_RANK})
    return render_page("admin/security.html", form=form,
                       is_own_two_factor_on=two_factor.is_enabled(acting_user().id))


@bp.post("/security/two-factor")
@admin_required
def save_two_factor_policy():
    """Require (or stop requiring) two-factor sign-in per role; only the roles whose box changed are saved."""
    form = TwoFactorPolicyForm()
    if not form.validate():
        raise ValidationFailed(errors_text(form))
    after = form.required_roles()
    changed = two_factor.roles_requiring_two_factor() ^ after
    if not changed:
        return done("Nothing changed.", url_for("admin.security"))
    for role in sorted(changed, key=ROLE_RANK.get):
        two_factor.set_role_requirement(acting_user(), role, role in after, request_origin())
    if two_factor.must_enrol(acting_user()):
        # The next request would send them there anyway; say why instead of surprising them.
        return done("Saved: two-factor sign-in is required for admins, you included. Set it up now.",
                    url_for("account.two_factor"), level="warning", navigate=True)
    roles = ", ".join(f"{role}s" for role in sorted(after, key=ROLE_RANK.get))
    message = f"two-factor sign-in is required for {roles}" if roles else "no role requires two-factor sign-in"
    return done(f"Saved: {message}.", url_for("admin.security"))


def _navigation_page(form=None, status=200):
    return render_page(
        "admin/navigation.html", items=nav_services.all_items(), form=form or NavigationItemForm(formdata=None)
    ), status


@bp.get("/navigation")
@admin_required
def navigation():
    """Edit, reorder, hide and add navigation items."""
    return _navigation_page()


def _form_values(form: NavigationItemForm) -> dict:
    return {
        "label": form.label.data, "icon": form.icon.data, "link": form.link.data,
        "requires_role": form.requires_role.data, "item_type": form.item_type.data,
    }


@bp.post("/navigation")
@admin_required
def create_navigation_item():
    """Add a navigation item."""
    form = NavigationItemForm()
    if form.validate_on_submit():
        try:
            nav_services.create_item(acting_user(), origin=request_origin(), **_form_values(form))
        except ValidationFailed as error:
            form.link.errors.append(error.message)
        else:
            return done(f"Added “{form.label.data}”.", url_for("admin.navigation"))
    return _navigation_page(form)


@bp.get("/navigation/<int:item_id>/edit")
@admin_required
def edit_navigation_item(item_id: int):
    """The row of one item as an inline edit form (click-to-edit)."""
    item = nav_services.get_item(item_id)
    form = NavigationItemForm(
        formdata=None, label=item.label, icon=item.icon, link=item.link,
        requires_role=item.requires_role or "", item_type=item.type,
    )
    return render_page("admin/navigation.html", {f"nav-item-{item.id}": "admin/_nav_item_form.html"},
                       items=nav_services.all_items(), form=NavigationItemForm(formdata=None),
                       item=item, edit_form=form, editing_id=item.id)


@bp.get("/navigation/<int:item_id>")
@admin_required
def show_navigation_item(item_id: int):
    """The read-only row of one item (cancel of the inline edit)."""
    item = nav_services.get_item(item_id)
    return render_page("admin/navigation.html", {f"nav-item-{item.id}": "admin/_nav_item.html"},
                       items=nav_services.all_items(), form=NavigationItemForm(formdata=None), item=item)


@bp.post("/navigation/<int:item_id>")
@admin_required
def update_navigation_item(item_id: int):
    """Save an edited item."""
    item = nav_services.get_item(item_id)
    form = NavigationItemForm()
    if form.validate_on_submit():
        try:
            item = nav_services.update_item(acting_user(), item_id,
                                            origin=request_origin(), **_form_values(form))
        except ValidationFailed as error:
            form.link.errors.append(error.message)
        else:
            return done(f"Saved “{item.label}”.", url_for("admin.navigation"),
                        fragment=render_template("admin/_nav_item.html", item=item))
    if is_htmx():
        return render_template("admin/_nav_item_form.html", item=item, edit_form=form)
    return _navigation_page()


@bp.post("/navigation/<int:item_id>/visibility")
@admin_required
def toggle_navigation_item(item_id: int):
    """Hide or show an item."""
    item = nav_services.get_item(item_id)
    item = nav_services.set_visibility(acting_user(), item_id, not item.is_active, request_origin())
    message = f"“{item.label}” is {'shown' if item.is_active else 'hidden'}."
    return done(message, url_for("admin.navigation"), fragment=render_template("admin/_nav_item.html", item=item))


@bp.post("/navigation/<int:item_id>/move")
@admin_required
def move_navigation_item(item_id: int):
    """Move an item up or down."""
    direction = request.form.get("direction")
    if direction not in {"up", "down"}:
        raise ValidationFailed("Direction must be up or down.")
    nav_services.move_item(acting_user(), item_id, direction, request_origin())
    return done("Order saved.", url_for("admin.navigation"),
                fragment=render_template("admin/_nav_items.html", items=nav_services.all_items()))


@bp.get("/audit")
@admin_required
def audit():
    """The audit log, newest first, filtered by actor, action, entity and dates, paged."""
    filters = audit_log.AuditFilters.from_args(request.args)
    page = page_number()
    entries, has_more = audit_log.audit_page(filters, page)
    return render_page("admin/audit.html", entries=entries, has_more=has_more, page=page, filters=filters,
                       differences=audit_log.differences, actions=audit_log.known_actions(),
                       entities=audit_log.known_entities())


@bp.get("/audit.csv")
@admin_required
def audit_csv():
    """The filtered audit log as CSV (cells that a spreadsheet would run are escaped)."""
    filters = audit_log.AuditFilters.from_args(request.args)
    return csv_response("audit-log.csv", audit_log.AUDIT_CSV_HEADER, audit_log.audit_rows_for_export(filters))


USAGE_PERIODS = (7, 30, 90)
USAGE_VIEWS = ("day", "model", "user")


def _usage_period() -> tuple[int, date, date]:
    """The period asked for (7, 30 or 90 days; 30 otherwise) as its length, first day and the day after."""
    days = request.args.get("days", type=int)
    days = days if days in USAGE_PERIODS else 30
    end = usage.today_utc() + timedelta(days=1)
    return days, end - timedelta(days=days), end


@bp.get("/usage")
@admin_required
def usage_page():
    """Cost and tokens by day, by model and by person over the last 7, 30 or 90 days, with charts."""
    days, start, end = _usage_period()
    return render_page("admin/usage.html", days=days, periods=USAGE_PERIODS, start=start, end=end,
                       total=usage.totals_between(start, end), daily=usage.by_day(start, end),
                       models=usage.by_model(start, end), people=usage.by_user(start, end))


@bp.get("/usage.csv")
@admin_required
def usage_csv():
    """One of the usage tables (by=day, model or user) as CSV."""
    days, start, end = _usage_period()
    view = request.args.get("by") if request.args.get("by") in USAGE_VIEWS else "day"
    rows = {"day": usage.by_day, "model": usage.by_model, "user": usage.by_user}[view](start, end)
    header = [view, "requests", "errors", "input_tokens", "output_tokens", "total_tokens", "cost_usd"]
    return csv_response(f"usage-by-{view}-{days}d.csv", header, (
        [row.label, row.request_count, row.error_count, row.total_input_tokens, row.total_output_tokens,
         row.total_tokens, row.total_cost_usd] for row in rows))


@bp.get("/feedback")
@admin_required
def feedback_page():
    """Thumbs-down answers with their comments, newest first, filtered by model and review status."""
    model = (request.args.get("model") or "").replace("\x00", "").strip()[:200]
    status = request.args.get("status") if request.args.get("status") in {"new", "reviewed"} else ""
    page = page_number()
    items, has_more = feedback.thumbs_down(page, model or None, status or None)
    return render_page("admin/feedback.html", items=items, has_more=has_more, page=page, model=model,
                       status=status, models=feedback.models_with_feedback(),
                       review_form=FeedbackReviewForm(formdata=None))


@bp.post("/feedback/<uuid:feedback_id>/review")
@admin_required
def review_feedback(feedback_id: uuid.UUID):
    """Mark a thumbs-down reviewed, with notes."""
    form = FeedbackReviewForm()
    if not form.validate():
        raise ValidationFailed(errors_text(form))
    item = feedback.mark_reviewed(acting_user(), feedback_id, form.resolution_notes.data or "", request_origin())
    return done("Marked reviewed.", url_for("admin.feedback_page"),
                fragment=render_template("admin/_feedback_review.html", item=item,
                                         review_form=FeedbackReviewForm(formdata=None)))
