"""The import form: one file, checked for CSRF by the form itself (see routes.import_conversations)."""
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired


class ImportForm(FlaskForm):
    file = FileField("File to import", validators=[FileRequired("Choose a file to import.")])
