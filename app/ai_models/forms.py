"""The model registry form: limits written once."""
from decimal import Decimal

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import (
    URL,
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from app.ai_models.models import DEFAULT_FIRST_TOKEN_TIMEOUT, DEFAULT_IDLE_TIMEOUT, TIMEOUT_RANGE
from app.ai_models.safety import base_url_refusal, key_variable_refusal
from app.core.forms import FiniteDecimalField, strip_text
from app.llm.registry import PROVIDERS
from app.security.roles import Role


def _none_if_blank(value):
    return value or None


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


TIMEOUT_MESSAGE = f"Between {TIMEOUT_RANGE[0]} and {TIMEOUT_RANGE[1]:,} seconds."
PRICE_RANGE = NumberRange(min=0, max=100000, message="A price between 0 and 100,000 USD per million tokens.")


class AIModelForm(FlaskForm):
    name = StringField("Display name", filters=[strip_text], validators=[DataRequired(), Length(max=100)])
    provider = SelectField("Provider", choices=[(name, name) for name in PROVIDERS])
    model_id = StringField("Model id", filters=[strip_text], validators=[DataRequired(), Length(max=200)])
    base_url = StringField(
        "Base URL", filters=[strip_text, _none_if_blank],
        validators=[Optional(), Length(max=500), URL(require_tld=False, message="A full http(s) URL.")])
    api_key_env = StringField(
        "API key environment variable", filters=[strip_text, _none_if_blank],
        validators=[Optional(), Length(max=100),
                    Regexp(r"^[A-Z_][A-Z0-9_]*$", message="An environment variable name, like OPENAI_API_KEY.")])
    context_window = IntegerField("Context window (tokens)",
                                  validators=[Optional(), NumberRange(min=1, max=10_000_000)])
    max_tokens = IntegerField("Max output tokens", validators=[Optional(), NumberRange(min=1, max=1_000_000)])
    input_cost_per_million = FiniteDecimalField("Input price (USD / 1M tokens)", places=6, default=0,
                                                validators=[InputRequired(), PRICE_RANGE])
    output_cost_per_million = FiniteDecimalField("Output price (USD / 1M tokens)", places=6, default=0,
                                                 validators=[InputRequired(), PRICE_RANGE])
    cached_input_cost_per_million = FiniteDecimalField("Cached input price (USD / 1M tokens)", places=6, default=0,
                                                       validators=[InputRequired(), PRICE_RANGE])
    allowed_roles = MultiCheckboxField("Allowed roles (none ticked: everyone)", choices=Role.choices())
    active = BooleanField("Active", default=True)
    is_summary_model = BooleanField("Writes conversation summaries")
    first_token_timeout_seconds = IntegerField(
        "First-token limit (seconds)", default=DEFAULT_FIRST_TOKEN_TIMEOUT,
        validators=[Optional(), NumberRange(*TIMEOUT_RANGE, message=TIMEOUT_MESSAGE)])
    idle_timeout_seconds = IntegerField(
        "Idle limit (seconds)", default=DEFAULT_IDLE_TIMEOUT,
        validators=[Optional(), NumberRange(*TIMEOUT_RANGE, message=TIMEOUT_MESSAGE)])
    accepts_reasoning_effort = BooleanField("Accepts a reasoning effort (OpenAI reasoning_effort)")
    accepts_thinking_budget = BooleanField("Accepts extended thinking with a token budget (Anthropic)")

    def validate_base_url(self, field) -> None:
        """Only addresses a call would be allowed to reach (resolved now; checked again at each call)."""
        if field.data and not field.errors:
            allow_private = current_app.config.get("ALLOW_PRIVATE_MODEL_HOSTS", False)
            refusal = base_url_refusal(field.data, allow_private=allow_private)
            if refusal:
                raise ValidationError(refusal)

    def validate_api_key_env(self, field) -> None:
        """Only variables the operator allows may hold a model's key (checked again at each call)."""
        if field.data and not field.errors:
            refusal = key_variable_refusal(field.data, current_app.config.get("MODEL_KEY_VARIABLES", ()))
            if refusal:
                raise ValidationError(refusal)

    def values(self) -> dict:
        def price(field):
            return field.data.quantize(Decimal("0.000001"))

        return {
            "name": self.name.data, "provider": self.provider.data, "model_id": self.model_id.data,
            "base_url": self.base_url.data, "api_key_env": self.api_key_env.data,
            "context_window": self.context_window.data, "max_tokens": self.max_tokens.data,
            "input_cost_per_million": price(self.input_cost_per_million),
            "output_cost_per_million": price(self.output_cost_per_million),
            "cached_input_cost_per_million": price(self.cached_input_cost_per_million),
            "allowed_roles": list(self.allowed_roles.data or []), "active": bool(self.active.data),
            "is_summary_model": bool(self.is_summary_model.data),
            "first_token_timeout_seconds": self.first_token_timeout_seconds.data or DEFAULT_FIRST_TOKEN_TIMEOUT,
            "idle_timeout_seconds": self.idle_timeout_seconds.data or DEFAULT_IDLE_TIMEOUT,
            "accepts_reasoning_effort": bool(self.accepts_reasoning_effort.data),
            "accepts_thinking_budget": bool(self.accepts_thinking_budget.data),
        }
