"""/account/two-factor (enrolment with a QR code, recovery codes, turning off) and /account/api-keys."""
from __future__ import annotations

import uuid

from flask import current_app, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from app.account import bp
from app.api import keys as api_keys
from app.api.models import SCOPES
from app.auth import two_factor
from app.auth.two_factor_routes import CodeForm
from app.core.forms import strip_text
from app.core.pages import done
from app.errors import ValidationFailed
from app.models.base import utcnow
from app.security.origin import request_origin
from app.security.roles import acting_user, login_required


def _two_factor_page(form=None, recovery_codes=None, status=200):
    user = acting_user()
    method = two_factor.method_of(user.id)
    enrolment = two_factor.enrolment_for(user, method) if method is not None and not method.is_verified else None
    return render_template(
        "account/two_factor.html", method=method, enrolment=enrolment, form=form or CodeForm(formdata=None),
        recovery_codes=recovery_codes, unused_count=two_factor.unused_recovery_codes_count(user.id),
        is_required=user.role in two_factor.roles_requiring_two_factor()), status


@bp.get("/account/two-factor", endpoint="two_factor")
@login_required
def two_factor_view():
    """Set up, review or turn off two-factor sign-in."""
    return _two_factor_page()


@bp.post("/account/two-factor/setup")
@login_required
def two_factor_setup():
    """Make a new secret to scan (not yet active)."""
    two_factor.begin_enrolment(acting_user())
    return done(None, url_for("account.two_factor"))


def _with_code(action, success_message: str, codes_expected: bool):
    form = CodeForm()
    if form.validate_on_submit():
        try:
            codes = action(acting_user(), form.code.data, request_origin(), current_app.config)
        except two_factor.CodeRefused as refusal:
            form.code.errors.append(refusal.message)
            return _two_factor_page(form, status=429 if refusal.throttled else 200)
        if codes_expected:
            return _two_factor_page(recovery_codes=codes)
        return done(success_message, url_for("account.two_factor"))
    return _two_factor_page(form)


@bp.post("/account/two-factor/confirm")
@login_required
def two_factor_confirm():
    """Turn two-factor sign-in on with a code from the app; the recovery codes are shown this once."""
    return _with_code(two_factor.confirm_enrolment, "", codes_expected=True)


@bp.post("/account/two-factor/recovery-codes")
@login_required
def two_factor_recovery_codes():
    """Replace the recovery codes (a code is asked for)."""
    return _with_code(two_factor.regenerate_recovery_codes, "", codes_expected=True)


@bp.post("/account/two-factor/disable")
@login_required
def two_factor_disable():
    """Turn two-factor sign-in off (a code is asked for)."""
    return _with_code(two_factor.disable, "Two-factor sign-in is off.", codes_expected=False)


# --- API keys ---------------------------------------------------------------------------------------

class ApiKeyForm(FlaskForm):
    name = StringField("Name", filters=[strip_text], validators=[DataRequired(), Length(max=100)])
    scopes = SelectMultipleField("Scopes", choices=list(SCOPES.items()), default=list(SCOPES),
                                 widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
    expires_in_days = RadioField("Expires", choices=[("30", "in 30 days"), ("90", "in 90 days"),
                                                     ("365", "in a year"), ("never", "never")], default="90")


def _api_keys_page(form=None, new_key=None, status=200):
    return render_template("account/api_keys.html", form=form or ApiKeyForm(formdata=None), new_key=new_key,
                           keys=api_keys.keys_of(acting_user()), now=utcnow()), status


@bp.get("/account/api-keys")
@login_required
def api_keys_page():
    """The user's API keys (by prefix, with last use), and a form for a new one."""
    return _api_keys_page()


@bp.post("/account/api-keys")
@login_required
def create_api_key():
    """Create a key and show it in full, this once."""
    form = ApiKeyForm()
    if form.validate_on_submit():
        days = None if form.expires_in_days.data == "never" else int(form.expires_in_days.data)
        try:
            _row, key = api_keys.create_key(acting_user(), form.name.data, form.scopes.data, days, request_origin())
        except ValidationFailed as error:
            form.name.errors.append(error.message)
        else:
            return _api_keys_page(new_key=key)
    return _api_keys_page(form)


@bp.post("/account/api-keys/<uuid:key_id>/revoke")
@login_required
def revoke_api_key(key_id: uuid.UUID):
    """Revoke a key: it answers 401 from now on."""
    api_keys.revoke_key(acting_user(), key_id, request_origin())
    return done("API key revoked.", url_for("account.api_keys_page"))
