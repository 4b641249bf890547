"""Chat forms: the composer with its options, rename, settings, feedback. Limits written once."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.chat.models import REASONING_EFFORTS, THINKING_BUDGET_RANGE
from app.chat.services import (
    MAX_FEEDBACK_CHARS,
    MAX_MESSAGE_CHARS,
    MAX_SYSTEM_PROMPT_CHARS,
    MAX_TITLE_CHARS,
    GenerationOptions,
)
from app.core.forms import FiniteDecimalField, strip_text


class ComposerForm(FlaskForm):
    content = TextAreaField("Message", filters=[strip_text], validators=[
        DataRequired("Write a message first."),
        Length(max=MAX_MESSAGE_CHARS, message=f"A message has at most {MAX_MESSAGE_CHARS:,} characters.")])
    model_id = SelectField("Model", coerce=int, validate_choice=False)
    client_request_id = HiddenField()
    temperature = FiniteDecimalField("Temperature", places=2, validators=[
        Optional(), NumberRange(0, 2, "Temperature goes from 0 to 2.")])
    top_p = FiniteDecimalField("Top p", places=3, validators=[Optional(), NumberRange(0, 1, "Top p goes from 0 to 1.")])
    max_tokens = IntegerField("Max tokens", validators=[
        Optional(), NumberRange(1, 1_000_000, "Max tokens must be a whole number above 0.")])
    frequency_penalty = FiniteDecimalField("Frequency penalty", places=2, validators=[
        Optional(), NumberRange(-2, 2, "Frequency penalty goes from −2 to 2.")])
    presence_penalty = FiniteDecimalField("Presence penalty", places=2, validators=[
        Optional(), NumberRange(-2, 2, "Presence penalty goes from −2 to 2.")])

    reasoning_effort = SelectField("Reasoning effort", choices=[("", "Model default")] + [
        (effort, effort) for effort in REASONING_EFFORTS], default="")
    thinking_budget_tokens = IntegerField("Thinking budget (tokens)", validators=[Optional(), NumberRange(
        *THINKING_BUDGET_RANGE, f"A thinking budget goes from {THINKING_BUDGET_RANGE[0]:,} to "
        f"{THINKING_BUDGET_RANGE[1]:,} tokens.")])

    # The organisation a new conversation bills to (filled with those the user may bill; blank: personal).
    tenant_id = SelectField("Bill to", validate_choice=False, default="")

    OPTION_FIELDS = ("temperature", "top_p", "max_tokens", "frequency_penalty", "presence_penalty",
                     "reasoning_effort", "thinking_budget_tokens")
    # The option fields' HTML when the composer is fresh (see chat.routes._composer_form); None: render them.
    fresh_options_html = None

    def generation_options(self) -> GenerationOptions:
        values = {name: getattr(self, name).data for name in self.OPTION_FIELDS}
        values["reasoning_effort"] = values["reasoning_effort"] or None
        return GenerationOptions(**values)

    def has_option_errors(self) -> bool:
        return any(getattr(self, name).errors for name in self.OPTION_FIELDS)


class OptionsOnlyForm(ComposerForm):
    """Regenerate: the same model and options fields, no message."""

    content = None


class RenameForm(FlaskForm):
    title = StringField("Title", filters=[strip_text], validators=[
        DataRequired("A title cannot be empty."),
        Length(max=MAX_TITLE_CHARS, message=f"At most {MAX_TITLE_CHARS} characters.")])


class SettingsForm(FlaskForm):
    model_id = SelectField("Model", coerce=int, validate_choice=False)
    system_prompt = TextAreaField("System prompt", filters=[strip_text], validators=[
        Optional(), Length(max=MAX_SYSTEM_PROMPT_CHARS, message=f"At most {MAX_SYSTEM_PROMPT_CHARS:,} characters.")])
    is_summary_enabled = BooleanField("Summarise earlier messages that no longer fit the model")
    tenant_id = SelectField("Bill to", validate_choice=False, default="")


class FeedbackForm(FlaskForm):
    category = SelectField("Rating", choices=[("up", "Good answer"), ("down", "Bad answer")])
    comment = TextAreaField("Comment (optional)", filters=[strip_text], validators=[
        Optional(), Length(max=MAX_FEEDBACK_CHARS, message=f"At most {MAX_FEEDBACK_CHARS:,} characters.")])


class EditMessageForm(ComposerForm):
    """Edit the last user message: the composer's fields, posted from the message itself."""
