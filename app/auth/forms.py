"""Account forms: their limits are written here once."""
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from app.core.forms import strip_text


def _email_field() -> EmailField:
    """An address being given (sign-up, reset): checked for shape, at most 254 characters."""
    return EmailField("E-mail", filters=[strip_text], validators=[DataRequired(), Email(), Length(max=254)])


def _display_name_field() -> StringField:
    """How others see the user: 1 to 100 characters."""
    return StringField("Display name", filters=[strip_text], validators=[DataRequired(), Length(min=1, max=100)])


def _new_password_field(label: str) -> PasswordField:
    """A password being chosen: 8 to 200 characters."""
    return PasswordField(label, validators=[
        DataRequired(), Length(min=8, max=200, message="Use at least 8 characters (at most 200).")])


def _repeat_field(label: str, of: str) -> PasswordField:
    """The chosen password typed again; must equal the field named `of`."""
    return PasswordField(label, validators=[DataRequired(), EqualTo(of, "The passwords differ.")])


class RegisterForm(FlaskForm):
    email = _email_field()
    display_name = _display_name_field()
    password = _new_password_field("Password")
    confirm = _repeat_field("Repeat password", of="password")
    submit = SubmitField("Create account")


class LoginForm(FlaskForm):
    email = EmailField("E-mail", filters=[strip_text], validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])
    submit = SubmitField("Sign in")


class ProfileForm(FlaskForm):
    display_name = _display_name_field()
    submit = SubmitField("Save")


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired(), Length(max=200)])
    new_password = _new_password_field("New password")
    confirm = _repeat_field("Repeat new password", of="new_password")
    submit = SubmitField("Change password")


class ForgotPasswordForm(FlaskForm):
    email = _email_field()
    submit = SubmitField("Send reset link")


class ResetPasswordForm(FlaskForm):
    new_password = _new_password_field("New password")
    confirm = _repeat_field("Repeat new password", of="new_password")
    submit = SubmitField("Set new password")
