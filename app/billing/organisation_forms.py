"""Forms of the organisation pages: create one, invite, change a role, cap a member. Limits written once."""
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from app.billing.organisations import MAX_EMAIL_CHARS, MAX_NAME_CHARS
from app.core.forms import FiniteDecimalField, strip_text

ROLE_CHOICES = [("member", "Member"), ("viewer", "Viewer"), ("admin", "Admin"), ("owner", "Owner")]
MAX_TOKEN_CAP = 10**12
MAX_COST_CAP_USD = 1_000_000


class OrganisationForm(FlaskForm):
    name = StringField("Name", filters=[strip_text], validators=[
        DataRequired("Give the organisation a name."),
        Length(max=MAX_NAME_CHARS, message=f"At most {MAX_NAME_CHARS} characters.")])


class InviteForm(FlaskForm):
    email = StringField("E-mail address", filters=[strip_text], validators=[
        DataRequired("Enter the e-mail address to invite."),
        Length(max=MAX_EMAIL_CHARS, message=f"At most {MAX_EMAIL_CHARS} characters."),
        Regexp(r"^[^@\s\x00-\x1f]+@[^@\s\x00-\x1f]+\.[^@\s\x00-\x1f]+$",
               message="That does not look like an e-mail address.")])
    role = SelectField("Role", choices=ROLE_CHOICES, default="member")


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES)


class CapForm(FlaskForm):
    monthly_tokens = IntegerField("Tokens per month", validators=[
        Optional(), NumberRange(0, MAX_TOKEN_CAP, "A whole number of tokens, 0 or more.")])
    monthly_cost = FiniteDecimalField("Cost per month (USD)", places=2, validators=[
        Optional(), NumberRange(0, MAX_COST_CAP_USD, f"From $0 to ${MAX_COST_CAP_USD:,}.")])

    def cost_micros(self) -> int | None:
        return None if self.monthly_cost.data is None else int(self.monthly_cost.data * 1_000_000)
