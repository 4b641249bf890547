"""Admin forms."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from app.admin.feedback import NOTES_MAX_LENGTH
from app.core.forms import strip_text
from app.security.roles import Role


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=Role.choices(), validators=[DataRequired()])


class TwoFactorPolicyForm(FlaskForm):
    """One checkbox per role: whether every account with it must sign in with a second factor."""

    user_required = BooleanField("Require two-factor sign-in for users")
    moderator_required = BooleanField("Require two-factor sign-in for moderators")
    admin_required = BooleanField("Require two-factor sign-in for admins")

    def required_roles(self) -> set[str]:
        """The roles whose box is ticked."""
        return {role.value for role in Role if self[f"{role.value}_required"].data}


class NavigationItemForm(FlaskForm):
    label = StringField("Label", filters=[strip_text], validators=[DataRequired(), Length(max=60)])
    icon = StringField("Icon", filters=[strip_text], validators=[Optional(), Length(max=40)])
    link = StringField("Link (a path on this site)", filters=[strip_text], validators=[Optional(), Length(max=200)])
    requires_role = SelectField(
        "Visible to", choices=[("", "Everyone signed in"), ("moderator", "Moderators and admins"), ("admin", "Admins")]
    )
    item_type = SelectField("Kind", choices=[("link", "Link"), ("section", "Section heading"), ("divider", "Divider")])
    submit = SubmitField("Save")


class FeedbackReviewForm(FlaskForm):
    resolution_notes = TextAreaField("Resolution notes", filters=[strip_text],
                                     validators=[Optional(), Length(max=NOTES_MAX_LENGTH)])
    submit = SubmitField("Mark reviewed")
