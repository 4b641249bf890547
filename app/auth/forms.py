"""Account forms: their limits are written here once."""
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from app.core.forms import strip_text


class RegisterForm(FlaskForm):
    email = EmailField("E-mail", filters=[strip_text], validators=[DataRequired(), Email(), Length(max=254)])
    display_name = StringField("Display name", filters=[strip_text],
                               validators=[DataRequired(), Length(min=1, max=100)])
    password = PasswordField("Password", validators=[
        DataRequired(), Length(min=8, max=200, message="Use at least 8 characters (at most 200).")])
    confirm = PasswordField("Repeat password",
                            validators=[DataRequired(), EqualTo("password", "The passwords differ.")])
    submit = SubmitField("Create account")


class LoginForm(FlaskForm):
    email = EmailField("E-mail", filters=[strip_text], validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])
    submit = SubmitField("Sign in")


class ProfileForm(FlaskForm):
    display_name = StringField("Display name", filters=[strip_text],
                               validators=[DataRequired(), Length(min=1, max=100)])
    submit = SubmitField("Save")


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired(), Length(max=200)])
    new_password = PasswordField("New password", validators=[
        DataRequired(), Length(min=8, max=200, message="Use at least 8 characters (at most 200).")])
    confirm = PasswordField("Repeat new password",
                            validators=[DataRequired(), EqualTo("new_password", "The passwords differ.")])
    submit = SubmitField("Change password")


class ForgotPasswordForm(FlaskForm):
    email = EmailField("E-mail", filters=[strip_text], validators=[DataRequired(), Email(), Length(max=254)])
    submit = SubmitField("Send reset link")


class ResetPasswordForm(FlaskForm):
    new_password = PasswordField("New password", validators=[
        DataRequired(), Length(min=8, max=200, message="Use at least 8 characters (at most 200).")])
    confirm = PasswordField("Repeat new password",
                            validators=[DataRequired(), EqualTo("new_password", "The passwords differ.")])
    submit = SubmitField("Set new password")
