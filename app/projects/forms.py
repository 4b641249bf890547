"""Forms of the projects pages; their limits are the model's constants."""
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import BooleanField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.core.forms import strip_text
from app.projects.models import MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, MAX_NOTES_CHARS


class ProjectForm(FlaskForm):
    name = StringField("Name", filters=[strip_text],
                       validators=[DataRequired("Give the project a name."), Length(max=MAX_NAME_CHARS)])
    description = TextAreaField("Description", filters=[strip_text], validators=[Length(max=MAX_DESCRIPTION_CHARS)])


class UploadForm(FlaskForm):
    files = MultipleFileField("A zip archive or files")


class SettingsForm(FlaskForm):
    description = TextAreaField("Description", filters=[strip_text], validators=[Length(max=MAX_DESCRIPTION_CHARS)])
    json_schemas = TextAreaField("JSON Schemas", filters=[strip_text], validators=[Length(max=5_000)])
    forbidden_patterns = TextAreaField("Forbidden text", filters=[strip_text], validators=[Length(max=5_000)])
    max_file_bytes = IntegerField("Largest file allowed (bytes)", validators=[
        Optional(), NumberRange(min=1, max=1024 * 1024 * 1024)])
    test_command = StringField("Test command", filters=[strip_text], validators=[Length(max=500)])


class GauntletForm(FlaskForm):
    enabled = BooleanField("Run the test command")


class NotesForm(FlaskForm):
    notes = TextAreaField("Notes", filters=[strip_text], validators=[Length(max=MAX_NOTES_CHARS)])


class CheckpointForm(FlaskForm):
    checkpoint_description = StringField("Checkpoint description", filters=[strip_text], validators=[Length(max=500)])
