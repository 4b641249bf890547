"""Reading and editing the model registry; choosing a model a user may use."""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace

from flask import current_app
from sqlalchemy import select

from app.ai_models.models import AIModel
from app.ai_models.safety import key_variable_refusal
from app.errors import Forbidden, NotFound
from app.extensions import db
from app.llm.base import GenerationRequest, ProviderError, StreamEvent
from app.llm.registry import get_provider
from app.models.base import is_integer_id, utcnow
from app.security.audit import record_audit
from app.security.origin import Origin

EDITABLE_FIELDS = (
    "name", "provider", "model_id", "base_url", "api_key_env", "context_window", "max_tokens",
    "input_cost_per_million", "output_cost_per_million", "cached_input_cost_per_million", "allowed_roles", "active",
    "is_summary_model", "first_token_timeout_seconds", "idle_timeout_seconds", "accepts_reasoning_effort",
    "accepts_thinking_budget",
)
PRICE_FIELDS = ("input_cost_per_million", "output_cost_per_million", "cached_input_cost_per_million")


def all_models() -> list[AIModel]:
    return list(db.session.scalars(select(AIModel).order_by(AIModel.active.desc(), AIModel.name)))


def models_for_role(role: str) -> list[AIModel]:
    """Active models this role may pick, demo last."""
    models = db.session.scalars(select(AIModel).where(AIModel.active.is_(True)).order_by(AIModel.name))
    return sorted((m for m in models if m.allows_role(role)), key=lambda m: (m.is_demo, m.name.lower()))


def default_model_for(role: str) -> AIModel | None:
    models = models_for_role(role)
    return models[0] if models else None


def get_model(model_id: int) -> AIModel:
    model = db.session.get(AIModel, model_id) if is_integer_id(model_id) else None
    if model is None:
        raise NotFound("That model does not exist.")
    return model


def model_for_use(role: str, model_id: int | None) -> AIModel:
    """The model a person asked for, if it is active and their role may use it (403 otherwise)."""
    if model_id is None:
        model = default_model_for(role)
        if model is None:
            raise Forbidden("No model is available to your role. Ask an administrator.")
        return model
    model = db.session.get(AIModel, model_id) if is_integer_id(model_id) else None
    if model is None or not model.active:
        raise NotFound("That model is not available.")
    if not model.allows_role(role):
        raise Forbidden("Your role may not use this model.")
    return model


def key_refusal(model: AIModel) -> str | None:
    """Why the model's key variable may not be read (see safety.py), or None when it may."""
    if not model.api_key_env:
        return None
    return key_variable_refusal(model.api_key_env, current_app.config.get("MODEL_KEY_VARIABLES", ()))


def api_key_for(model: AIModel) -> str | None:
    """The key from the environment variable the registry names; never stored, never shown.
    Raises ProviderError (refused) when that variable may not hold a model's key."""
    refusal = key_refusal(model)
    if refusal:
        raise ProviderError(f"The model's key variable was refused: {refusal}", code="refused")
    return os.environ.get(model.api_key_env) if model.api_key_env else None


def key_status(model: AIModel) -> str:
    """none (no key needed) | set | missing | refused (the variable may not hold a key)."""
    if not model.api_key_env:
        return "none"
    if key_refusal(model):
        return "refused"
    return "set" if os.environ.get(model.api_key_env) else "missing"


def stream_from(model: AIModel, request: GenerationRequest) -> Iterator[StreamEvent]:
    """The events of a call to `model`: its provider set up from the app's settings, the key read
    from an allowed variable. A row that names a refused variable or address fails with
    ProviderError (refused) on the first event, like any other failed call."""
    yield from provider_stream(model, request)


def provider_stream(model: AIModel, request: GenerationRequest) -> Iterator[StreamEvent]:
    """Like stream_from, but the registry row, the settings and the key are read now (a refused key
    variable raises ProviderError at once): the stream it returns needs neither the app nor the
    database, so another thread may read it."""
    api_key = api_key_for(model)
    provider = get_provider(model.provider, current_app.config)
    return provider.stream(replace(request, api_key=api_key))


def _snapshot(model: AIModel) -> dict:
    return {field: (str(getattr(model, field)) if field in PRICE_FIELDS else getattr(model, field))
            for field in EDITABLE_FIELDS}


def save_model(actor, values: dict, origin: Origin, model_id: int | None = None) -> AIModel:
    """Create or update a model; prices changing stamps `pricing_updated_at`. Audited."""
    model = get_model(model_id) if model_id is not None else AIModel()
    before = _snapshot(model) if model_id is not None else None
    prices_changed = any(getattr(model, f, None) != values[f] for f in PRICE_FIELDS)
    for field in EDITABLE_FIELDS:
        setattr(model, field, values[field])
    if prices_changed:
        model.pricing_updated_at = utcnow()
    if model_id is None:
        db.session.add(model)
    db.session.flush()
    record_audit(actor.id, "ai_model", model.id, "update" if before else "create", before=before,
                 after=_snapshot(model), ip_address=origin.ip_address, user_agent=origin.user_agent)
    db.session.commit()
    return model
