"""Factories that make the world for a test, so each test states only what matters to it."""
from __future__ import annotations

import itertools

from app.auth import services as auth_services
from app.extensions import db

PASSWORD = "correct horse battery"
_numbers = itertools.count(1)


def make_user(role: str = "user", *, email: str | None = None, display_name: str | None = None,
              password: str = PASSWORD, is_active: bool = True):
    """A committed account with the given role."""
    number = next(_numbers)
    user = auth_services.create_user(
        email or f"person{number}@example.org", display_name or f"Person {number}", password, role=role
    )
    user.is_active_account = is_active
    db.session.commit()
    return user


def make_model(name: str = "Test model", *, provider: str = "echo", model_id: str | None = None,
               allowed_roles: list | None = None, active: bool = True, base_url: str | None = None,
               api_key_env: str | None = None, prices: tuple = (0, 0, 0), max_tokens: int | None = None):
    """A registered model (the demo one, `echo`, unless told otherwise)."""
    from decimal import Decimal

    from app.ai_models.models import AIModel

    model = AIModel(
        name=name, provider=provider, model_id=model_id or f"{provider}-{next(_numbers)}", base_url=base_url,
        api_key_env=api_key_env, allowed_roles=allowed_roles or [], active=active, max_tokens=max_tokens,
        input_cost_per_million=Decimal(str(prices[0])), output_cost_per_million=Decimal(str(prices[1])),
        cached_input_cost_per_million=Decimal(str(prices[2])),
    )
    db.session.add(model)
    db.session.commit()
    return model


def demo_model():
    """The offline demo model every fresh install has (seeded by the migrations)."""
    from sqlalchemy import select

    from app.ai_models.models import AIModel

    return db.session.scalar(select(AIModel).where(AIModel.provider == "echo").order_by(AIModel.id).limit(1))


def make_conversation(user, *, messages: int = 0, title: str = "A conversation", model=None, **fields):
    """A conversation with `messages` finished messages (alternating user / assistant), written directly."""
    from datetime import timedelta

    from app.chat.models import Conversation, Message
    from app.core.markdown import RENDERER_VERSION, render_markdown_safe
    from app.models.base import utcnow

    model = model or demo_model()
    conversation = Conversation(user_id=user.id, title=title, model_id=model.id, message_count=messages, **fields)
    db.session.add(conversation)
    db.session.flush()
    start = utcnow() - timedelta(minutes=messages)
    for number in range(messages):
        role = "user" if number % 2 == 0 else "assistant"
        text = f"Message {number} from the {role}"
        db.session.add(Message(conversation_id=conversation.id, user_id=user.id, role=role, content=text,
                               content_html=render_markdown_safe(text), renderer_version=RENDERER_VERSION,
                               model_id=model.id if role == "assistant" else None,
                               created_at=start + timedelta(minutes=number)))
    db.session.commit()
    return conversation
