"""Billing forms: a plan with its limits (/admin/plans), assigning a plan, changing plan on /billing."""
from __future__ import annotations

import re
from decimal import Decimal

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp, ValidationError

from app.billing.models import FEATURES
from app.billing.plans import PlanValues
from app.core.forms import FiniteDecimalField, strip_text

LIMIT_MAX = 2**63 - 1  # a BIGINT
_WHOLE = re.compile(r"[0-9]{1,19}")
UNIT_HINTS = {
    "tokens": "in tokens (input and output) per period",
    "usd_micros": "in millionths of a dollar per period (1000000 = $1)",
    "messages": "in answers asked for per UTC day",
    "members": "in members of the organisation",
    "projects": "in projects of a personal organisation's owner",
    "bytes": "in bytes (1073741824 = 1 GB)",
}
FEATURE_LABELS = {
    "monthly_tokens": "Tokens per period",
    "monthly_cost": "Cost per period",
    "messages_per_day": "Messages per day",
    "members": "Members",
    "projects": "Projects",
    "storage": "Storage",
}


def limit_value(text: str | None) -> int | None:
    """A limit typed in a form: empty means no limit, else a whole number from 0 (ValueError otherwise)."""
    text = (text or "").replace(",", "").replace("_", "").strip()
    if not text:
        return None
    if not _WHOLE.fullmatch(text) or int(text) > LIMIT_MAX:
        raise ValueError("Write a whole number of 0 or more (no sign, no decimals), or leave it empty for no limit.")
    return int(text)


def _check_limit(form, field):
    try:
        limit_value(field.data)
    except ValueError as error:
        raise ValidationError(str(error)) from None


class PlanForm(FlaskForm):
    """A plan's name, price, state and Stripe price, and a hard and a soft limit per feature (added below)."""

    name = StringField("Name", filters=[strip_text], validators=[DataRequired(), Length(max=128)])
    price = FiniteDecimalField("Price per month (USD)", places=2,
                               validators=[InputRequired(message="Give a price, 0 for a free plan."),
                                           NumberRange(min=0, max=Decimal("1000000"),
                                                       message="The price must be between 0 and 1,000,000 dollars.")])
    is_active = BooleanField("Active (organisations can be put on it)")
    stripe_price_id = StringField("Stripe price id", filters=[strip_text],
                                  validators=[Optional(), Length(max=128),
                                              Regexp(r"^[A-Za-z0-9_]+$",
                                                     message="A Stripe price id looks like price_123abc.")])
    sort_order = IntegerField("Order in lists", default=0,
                              validators=[Optional(), NumberRange(min=0, max=10_000, message="Use 0 to 10,000.")])

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for key in FEATURES:
            hard_field, soft_field = self[f"hard_{key}"], self[f"soft_{key}"]
            if hard_field.errors or soft_field.errors:
                continue
            hard, soft = limit_value(hard_field.data), limit_value(soft_field.data)
            if hard is not None and soft is not None and soft > hard:
                soft_field.errors = [*soft_field.errors, "The warning (soft limit) must not be above the hard limit."]
                valid = False
        return valid

    def feature_fields(self):
        """(feature key, label, unit hint, hard field, soft field) for each feature, in order."""
        return [(key, FEATURE_LABELS[key], UNIT_HINTS[unit], self[f"hard_{key}"], self[f"soft_{key}"])
                for key, unit in FEATURES.items()]

    def values(self) -> PlanValues:
        return PlanValues(
            name=self.name.data, price_cents=int(self.price.data * 100), is_active=bool(self.is_active.data),
            stripe_price_id=self.stripe_price_id.data or None, sort_order=self.sort_order.data or 0,
            limits={key: (limit_value(self[f"hard_{key}"].data), limit_value(self[f"soft_{key}"].data))
                    for key in FEATURES})

    @classmethod
    def for_plan(cls, plan):
        """The form filled from a saved plan (not from a submission)."""
        data = {"name": plan.name, "price": Decimal(plan.price_cents) / 100, "is_active": plan.is_active,
                "stripe_price_id": plan.stripe_price_id or "", "sort_order": plan.sort_order}
        for feature in plan.features:
            data[f"hard_{feature.feature_key}"] = "" if feature.hard_limit is None else str(feature.hard_limit)
            data[f"soft_{feature.feature_key}"] = "" if feature.soft_limit is None else str(feature.soft_limit)
        return cls(formdata=None, data=data)


for _key in FEATURES:
    setattr(PlanForm, f"hard_{_key}", StringField(f"{FEATURE_LABELS[_key]}: hard limit", filters=[strip_text],
                                                  validators=[Length(max=40), _check_limit]))
    setattr(PlanForm, f"soft_{_key}", StringField(f"{FEATURE_LABELS[_key]}: warning at", filters=[strip_text],
                                                  validators=[Length(max=40), _check_limit]))


class NewPlanForm(PlanForm):
    code = StringField("Code", filters=[strip_text],
                       validators=[DataRequired(), Length(max=64),
                                   Regexp(r"^[a-z0-9][a-z0-9_-]*$",
                                          message="Lower-case letters, digits, - and _ only, like team-plus.")])


class AssignPlanForm(FlaskForm):
    tenant_id = HiddenField(validators=[DataRequired()])
    plan_id = SelectField("Plan", validators=[DataRequired()])


class ChangePlanForm(FlaskForm):
    tenant_id = HiddenField(validators=[DataRequired()])
    plan_code = HiddenField(validators=[DataRequired()])
