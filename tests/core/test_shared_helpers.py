"""The small helpers every domain imports instead of keeping its own copy: the form strip filter,
form error text, and LIKE escaping."""
import pytest
from sqlalchemy import literal, select
from werkzeug.datastructures import MultiDict
from wtforms import Form, StringField
from wtforms.validators import DataRequired

from app.core.forms import errors_text, strip_text
from app.extensions import db
from app.models.base import escape_like


def test_the_strip_filter_drops_nul_bytes_and_outer_blanks_and_leaves_other_values_alone():
    assert strip_text("  a\x00b \n") == "ab"
    assert strip_text("\x00") == ""
    assert strip_text(None) is None
    assert strip_text(3) == 3


def test_form_error_text_names_every_failed_field_in_order():
    class TwoFields(Form):
        title = StringField(validators=[DataRequired("Give a title.")])
        body = StringField(validators=[DataRequired("Write a body.")])

    form = TwoFields(MultiDict())
    assert not form.validate()
    assert errors_text(form) == "Give a title. Write a body."


@pytest.mark.postgres
@pytest.mark.parametrize(("text", "needle", "matches"), [
    ("100% sure", "0% s", True),
    ("1000 sure", "0% s", False),
    ("snake_case", "e_c", True),
    ("snakeXcase", "e_c", False),
    ("back\\slash", "k\\s", True),
    ("backslash", "k\\s", False),
])
def test_escaped_like_patterns_match_wildcards_literally(app, text, needle, matches):
    with app.app_context():
        pattern = f"%{escape_like(needle)}%"
        assert db.session.scalar(select(literal(text).like(pattern, escape="\\"))) is matches
