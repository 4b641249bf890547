"""An overloaded worker that runs out of pooled connections does not lose the answer being written:
the text waits in the generator and is saved by the next flush."""
from __future__ import annotations

from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.chat import services, streaming
from app.chat.forms import GenerationOptions
from app.chat.models import Message
from app.extensions import db
from tests.factories import demo_model, make_conversation, make_user


def test_a_flush_without_a_free_connection_is_saved_by_the_next_one(app, monkeypatch):
    user = make_user()
    _, answer = services.send_message(user, make_conversation(user, messages=0), demo_model().id,
                                      "Hello there, demo model", GenerationOptions(), None)
    answer_id = answer.id
    flush, failed = streaming._flush, []

    def pool_exhausted_once(*args, **kwargs):
        if not failed:
            failed.append(args)
            raise PoolTimeout("QueuePool limit of size 5 overflow 10 reached")
        return flush(*args, **kwargs)

    monkeypatch.setattr(streaming, "_flush", pool_exhausted_once)
    monkeypatch.setattr(streaming, "FLUSH_SECONDS", 0)
    streaming.generate_answer(answer_id)
    db.session.expire_all()
    message = db.session.get(Message, answer_id)
    assert failed and message.status == "complete"
    assert message.content.startswith("You said: Hello there, demo model")
