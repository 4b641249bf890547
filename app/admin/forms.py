"""Admin forms."""
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional

from app.security.roles import Role


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=Role.choices(), validators=[DataRequired()])


class NavigationItemForm(FlaskForm):
    label = StringField("Label", filters=[_strip], validators=[DataRequired(), Length(max=60)])
    icon = StringField("Icon", filters=[_strip], validators=[Optional(), Length(max=40)])
    link = StringField("Link (a path on this site)", filters=[_strip], validators=[Optional(), Length(max=200)])
    requires_role = SelectField(
        "Visible to", choices=[("", "Everyone signed in"), ("moderator", "Moderators and admins"), ("admin", "Admins")]
    )
    item_type = SelectField("Kind", choices=[("link", "Link"), ("section", "Section heading"), ("divider", "Divider")])
    submit = SubmitField("Save")
