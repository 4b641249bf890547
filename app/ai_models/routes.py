"""/admin/models: the registry, admin only."""
from __future__ import annotations

from flask import url_for

from app.ai_models import bp, services
from app.ai_models.forms import AIModelForm
from app.chat import model_requests
from app.core.pages import done, render_page
from app.security.origin import request_origin
from app.security.roles import Role, acting_user, role_required

admin_required = role_required(Role.ADMIN)


@bp.get("")
@admin_required
def index():
    """Every registered model with its prices, roles and key status."""
    return render_page("ai_models/index.html", models=services.all_models(), key_status=services.key_status)


@bp.route("/new", methods=["GET", "POST"])
@admin_required
def create():
    """Register a model."""
    form = AIModelForm()
    if form.validate_on_submit():
        model = services.save_model(acting_user(), form.values(), request_origin())
        return done(f"Added {model.name}.", url_for("ai_models.index"))
    return render_page("ai_models/form.html", form=form, model=None)


@bp.route("/<int:model_id>", methods=["GET", "POST"])
@admin_required
def edit(model_id: int):
    """Edit a model: endpoint, key variable, limits, prices, roles, active; its latest failed calls."""
    model = services.get_model(model_id)
    form = AIModelForm(obj=model)
    if form.validate_on_submit():
        services.save_model(acting_user(), form.values(), request_origin(), model_id=model.id)
        return done(f"Saved {form.name.data}.", url_for("ai_models.index"))
    return render_page("ai_models/form.html", form=form, model=model, failures=model_requests.recent_failures(model.id))
