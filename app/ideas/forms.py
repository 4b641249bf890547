"""Ideas forms: submit or edit an idea, add a note, triage. Limits written once (the models')."""
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError

from app.core.forms import strip_text
from app.ideas.models import (
    MAX_DESCRIPTION_CHARS,
    MAX_NOTE_CHARS,
    MAX_TITLE_CHARS,
    PRIORITIES,
    STATUSES,
)

PRIORITY_MESSAGE = "Choose a priority: low, medium or high."


class ChoiceField(SelectField):
    """A select whose refusal of an unknown value says what to choose."""

    def __init__(self, label, choices, invalid_message, **kwargs):
        super().__init__(label, choices=choices, **kwargs)
        self.invalid_message = invalid_message

    def pre_validate(self, form):
        if self.data not in dict(self.choices):
            raise ValidationError(self.invalid_message)


class IdeaForm(FlaskForm):
    title = StringField("Title", filters=[strip_text], validators=[
        DataRequired("Give your idea a title."),
        Length(max=MAX_TITLE_CHARS, message=f"A title has at most {MAX_TITLE_CHARS} characters.")],
        render_kw={"maxlength": MAX_TITLE_CHARS})
    description = TextAreaField("Description", filters=[strip_text], validators=[
        DataRequired("Describe your idea: what would it change, and for whom?"),
        Length(max=MAX_DESCRIPTION_CHARS,
               message=f"A description has at most {MAX_DESCRIPTION_CHARS:,} characters.")],
        render_kw={"rows": 8, "maxlength": MAX_DESCRIPTION_CHARS})
    priority_level = ChoiceField("Priority", list(PRIORITIES.items()), PRIORITY_MESSAGE, default="medium")


class NoteForm(FlaskForm):
    content = TextAreaField("Add a note", filters=[strip_text], validators=[
        DataRequired("Write a note first."),
        Length(max=MAX_NOTE_CHARS, message=f"A note has at most {MAX_NOTE_CHARS:,} characters.")],
        render_kw={"rows": 3, "maxlength": MAX_NOTE_CHARS})


class TriageForm(FlaskForm):
    status = ChoiceField("Status", list(STATUSES.items()), "Choose one of the listed statuses.")
    priority_level = ChoiceField("Priority", list(PRIORITIES.items()), PRIORITY_MESSAGE)
