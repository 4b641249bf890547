"""Prompt forms: the prompt itself, the variables of one use, a moderation decision. Limits written once
(in services); the same parsers the services run check the fields here, so errors show beside them."""
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.core.forms import strip_text
from app.core.pages import whole_number
from app.prompts import services
from app.prompts.variables import Variable, VariableError, parse_variables


def version_number(value) -> int | None:
    """The version a form was opened on; anything unreadable counts as stale."""
    return whole_number(str(value or ""))


class PromptForm(FlaskForm):
    title = StringField("Title", filters=[strip_text], validators=[
        DataRequired("Give the prompt a title."),
        Length(max=services.MAX_TITLE_CHARS, message=f"A title has at most {services.MAX_TITLE_CHARS} characters.")])
    description = TextAreaField("Description (optional)", filters=[strip_text], render_kw={"rows": 2}, validators=[
        Optional(), Length(max=services.MAX_DESCRIPTION_CHARS,
                           message=f"A description has at most {services.MAX_DESCRIPTION_CHARS:,} characters.")])
    content = TextAreaField(
        "Prompt text", filters=[strip_text], render_kw={"rows": 10, "spellcheck": "true"},
        validators=[DataRequired("Write the prompt's text."),
                    Length(max=services.MAX_CONTENT_CHARS,
                           message=f"The text has at most {services.MAX_CONTENT_CHARS:,} characters.")])
    tags = StringField("Tags (optional)", filters=[strip_text], validators=[Optional(), Length(max=600)])
    visibility = RadioField("Who can see it", default="private", choices=[
        ("private", "Only me"), ("public", "Everyone, once a moderator approves it")])
    version = HiddenField()
    from_message = HiddenField()

    def validate_content(self, field):
        try:
            parse_variables(field.data or "")
        except VariableError as error:
            raise ValidationError(str(error)) from None

    def validate_tags(self, field):
        try:
            services.clean_tags(field.data)
        except services.PromptInvalid as error:
            raise ValidationError(error.message) from None

    def expected_version(self) -> int | None:
        return version_number(self.version.data)

    def to_input(self) -> services.PromptInput:
        return services.PromptInput(title=self.title.data or "", content=self.content.data or "",
                                    description=self.description.data, tags=self.tags.data,
                                    visibility=self.visibility.data or "private")


class UseForm(FlaskForm):
    """One field per variable, added by `use_form_for` (the names are the prompt author's)."""


def use_form_for(variables: list[Variable], **kwargs) -> UseForm:
    """A form asking for each variable once, prefilled with its default. Fields are named `var_<n>`
    (a variable called `data` or `validate` must not shadow the form's own attributes)."""

    class _Form(UseForm):
        pass

    for number, variable in enumerate(variables):
        setattr(_Form, f"var_{number}", TextAreaField(
            variable.name, default=variable.default, filters=[strip_text], render_kw={"rows": 2},
            validators=[DataRequired(f"Fill in “{variable.name}”."),
                        Length(max=services.MAX_VALUE_CHARS,
                               message=f"At most {services.MAX_VALUE_CHARS:,} characters.")]))
    form = _Form(**kwargs)
    form.variable_fields = [(variable, form[f"var_{number}"]) for number, variable in enumerate(variables)]
    return form


def values_of(form: UseForm) -> dict[str, str]:
    return {variable.name: field.data or "" for variable, field in form.variable_fields}


class ModerationForm(FlaskForm):
    reason = TextAreaField("Reason", filters=[strip_text], validators=[
        Optional(),
        Length(max=services.MAX_REASON_CHARS, message=f"At most {services.MAX_REASON_CHARS:,} characters.")])
    version = HiddenField()
