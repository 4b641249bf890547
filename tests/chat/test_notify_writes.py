"""A generator's flush appends only the new text in one statement: its database work does not grow with
the answer."""
from __future__ import annotations

import pytest
from sqlalchemy import event

from app.chat import services, streaming
from app.chat.forms import GenerationOptions
from app.chat.models import Message
from app.extensions import db
from tests.factories import demo_model, make_conversation, make_user

pytestmark = pytest.mark.postgres


def test_each_flush_sends_only_the_new_text_and_the_row_holds_all_of_it(app):
    user = make_user()
    conversation = make_conversation(user, messages=0)
    _, answer = services.send_message(user, conversation, demo_model().id, "Hello", GenerationOptions(), None)
    answer_id = answer.id
    db.session.commit()
    sent: list[int] = []
    statements: list[str] = []

    def measure(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)
        if "UPDATE" in statement.upper():  # on PostgreSQL inside a WITH that also sends the NOTIFY
            values = parameters.values() if isinstance(parameters, dict) else parameters
            sent.append(sum(len(value) for value in values if isinstance(value, str)))

    event.listen(db.engine, "before_cursor_execute", measure)
    try:
        pieces = ["word " * 1000 for _ in range(5)]
        states = [streaming._flush(answer_id, piece, "") for piece in pieces]
        assert streaming._flush(answer_id, "", "a thought") == "continue"
    finally:
        event.remove(db.engine, "before_cursor_execute", measure)
    assert states == ["continue"] * 5
    assert len(statements) == 6  # one statement per flush: no BEGIN, COMMIT or NOTIFY of its own
    assert max(sent[:5]) < 2 * len(pieces[0])  # the new piece, never the text so far
    db.session.expire_all()
    message = db.session.get(Message, answer_id)
    assert message.content == "".join(pieces) and message.reasoning_content == "a thought"
