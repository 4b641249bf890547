"""Form fields, filters and error text shared by domains."""
from __future__ import annotations

import decimal

from wtforms import DecimalField
from wtforms.validators import StopValidation

from app.errors import ValidationFailed


def strip_text(value):
    """A form filter: text without outer blanks or NUL bytes; anything else unchanged."""
    # NUL too: PostgreSQL refuses it in text, even in a lookup (a 500, not a wrong answer).
    return value.replace("\x00", "").strip() if isinstance(value, str) else value


def errors_text(form) -> str:
    """Every error of a form (fields and form-wide) as one message, in field order."""
    return " ".join(error for errors in form.errors.values() for error in errors)


def submitted_or_refuse(form):
    """The form, once its submission validates; otherwise ValidationFailed (422) naming every error."""
    if not form.validate_on_submit():
        raise ValidationFailed(errors_text(form))
    return form


class FiniteDecimalField(DecimalField):
    """A DecimalField for finite numbers only, rounded to its `places` as its column stores them:
    NaN, sNaN, Infinity and exponents no column holds are a field error, not a crash in a later
    comparison (`NumberRange` compares, and Decimal refuses to order NaN)."""

    def process_formdata(self, valuelist):
        if valuelist and not str(valuelist[0]).strip():
            self.data = None  # blank: Optional() or InputRequired() says what that means
            return
        super().process_formdata(valuelist)  # text that is no number at all: WTForms' own message
        try:
            if self.data is not None and not self.data.is_finite():
                raise decimal.InvalidOperation
            if self.data is not None and self.places is not None:
                self.data = self.data.quantize(decimal.Decimal(1).scaleb(-self.places))
        except decimal.InvalidOperation:
            self.data = None
            message = self.invalid_value_message or f"{self.label.text} must be a plain number, like 0.7."
            raise ValueError(message) from None

    def pre_validate(self, form):
        # The value could not be read: that one message, not also the range's about a missing value.
        if self.process_errors:
            raise StopValidation()
