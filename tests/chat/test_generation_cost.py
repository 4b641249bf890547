"""Writing an answer costs a fixed number of statements, whatever the answer's length: its start reads
the answer with its options and conversation in one statement, then the history; each flush is one
statement; its end records the call, the roll-ups, the totals (with the first title) and the final
text (with the followers' wake-up and what was left out) without reading anything twice."""
from __future__ import annotations

import pytest

from app.chat import services, streaming
from app.chat.forms import GenerationOptions
from app.chat.models import Conversation, Message
from app.extensions import db
from app.usage.models import CostAggregation
from tests.conftest import count_queries
from tests.factories import demo_model, make_conversation, make_user

pytestmark = pytest.mark.postgres

START = 3  # the answer with its options and conversation; the calibration (cached afterwards); the history
FINISH = 5  # the answer again; the call; its roll-up; the conversation; the answer
BILLING = ("tenant_subscriptions", "subscription_usage", "usage_counters")  # billing's metering, counted there


def is_counted(statement: str) -> bool:
    """Not a flush (one each, however many), nor billing's metering."""
    return "nexus_messages.content ||" not in " ".join(statement.split()) and not any(
        f"INTO {table}" in statement or f"FROM {table}" in statement for table in BILLING)


def answered(app, user, conversation, text: str) -> tuple[list[str], Message]:
    _, answer = services.send_message(user, conversation, demo_model().id, text, GenerationOptions(), None)
    answer_id = answer.id
    db.session.commit()
    with count_queries(app) as statements:
        streaming.generate_answer(answer_id)
    db.session.expire_all()
    return [s for s in statements if is_counted(s)], db.session.get(Message, answer_id)


def test_an_answer_is_written_in_a_fixed_number_of_statements(app):
    user = make_user()
    conversation = make_conversation(user, title=services.DEFAULT_TITLE)
    conversation_id = conversation.id

    first, answer = answered(app, user, conversation, "Tell me about streaming at scale.")

    assert len(first) == START + FINISH, "\n".join(first)
    assert answer.status == "complete" and answer.content and answer.completed_at is not None
    assert answer.content_html and answer.context_left_out_count == 0
    assert sum("cost_aggregations" in s for s in first) == 1  # one upsert
    assert not any("pg_notify" in s and "UPDATE" not in s for s in first)  # the wake-up rides in an UPDATE
    conversation = db.session.get(Conversation, conversation_id)
    assert conversation.title == services.heuristic_title("Tell me about streaming at scale.")
    assert conversation.title != services.DEFAULT_TITLE and conversation.last_message_at is not None

    second, answer = answered(app, user, conversation, "And at small scale?")

    assert len(second) == START - 1 + FINISH, "\n".join(second)  # the calibration came from this process
    assert answer.status == "complete"
    db.session.expire_all()
    assert db.session.get(Conversation, conversation_id).message_count == 4
    row = db.session.query(CostAggregation).one()
    assert row.request_count == 2 and row.success_count == 2
