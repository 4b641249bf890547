"""The folder form."""
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length

from app.core.forms import strip_text
from app.folders.models import FOLDER_COLORS, FOLDER_ICONS
from app.folders.services import MAX_NAME_CHARS

ICON_LABELS = {"folder": "Folder", "star": "Star", "book": "Book", "code": "Code", "briefcase": "Briefcase",
               "flask": "Flask", "heart": "Heart", "bolt": "Bolt"}


class FolderForm(FlaskForm):
    name = StringField("Name", filters=[strip_text], validators=[
        DataRequired("Give the folder a name."),
        Length(max=MAX_NAME_CHARS, message=f"A folder name has at most {MAX_NAME_CHARS} characters.")])
    color = SelectField("Colour", choices=[(c, c.capitalize()) for c in FOLDER_COLORS], default="gray")
    icon = SelectField("Icon", choices=[(i, ICON_LABELS[i]) for i in FOLDER_ICONS], default="folder")
    parent_id = SelectField("Inside", choices=[("", "Top level")], validate_choice=False, default="")
