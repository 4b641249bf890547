"""Views under /admin: every one requires the admin role."""
from __future__ import annotations

import uuid

from flask import render_template, request, url_for

from app.admin import bp, services
from app.admin.forms import NavigationItemForm, RoleForm
from app.core.pages import done, is_htmx, page_number, render_page
from app.errors import ValidationFailed
from app.nav import services as nav_services
from app.security.origin import request_origin
from app.security.roles import Role, acting_user, role_required

admin_required = role_required(Role.ADMIN)


@bp.get("")
@admin_required
def dashboard():
    """Overview with links to each admin page."""
    return render_page("admin/dashboard.html", counts=services.counts())


@bp.get("/users")
@admin_required
def users():
    """Users, searchable and paged; the search box swaps only the rows."""
    query = request.args.get("q", "")
    page = page_number()
    rows, has_more = services.search_users(query, page)
    return render_page(
        "admin/users.html", {"user-rows": "admin/_user_rows.html"},
        users=rows, has_more=has_more, query=query, page=page, role_form=RoleForm(formdata=None),
    )


@bp.get("/users/<uuid:user_id>")
@admin_required
def user_detail(user_id: uuid.UUID):
    """One user with their recent sign-in events."""
    user = services.get_user(user_id)
    return render_page("admin/user_detail.html", user=user, events=services.recent_auth_events(user.id))


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
    """The audit log, newest first, paged."""
    page = page_number()
    entity_type = request.args.get("entity") or None
    entries, has_more = services.audit_page(page, entity_type)
    return render_page("admin/audit.html", entries=entries, has_more=has_more, page=page, entity_type=entity_type)
