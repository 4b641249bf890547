"""Building an answer's request for a long conversation: the history fitted to the model's context
window (app.chat.context.fit_history), for 5,000-message conversations and models with small and
large windows. Goal: under 20 ms, reading only the newest rows needed. Prints; asserts nothing.

    python -m bench.context [--postgres | --database-url URL] [--messages 5000] [--runs 50]
"""
from __future__ import annotations

import argparse
import time
from datetime import timedelta

from bench.common import (
    QueryCounter,
    add_database_arguments,
    database_from_args,
    describe_machine,
    engine_of,
    make_app,
    percentile,
)

GOAL_MS = 20.0
WINDOWS = [("8k window (≈40 of these messages)", 8_192, 1_024), ("128k window", 128_000, 4_096),
           ("1M window (every message)", 1_000_000, 8_192)]


def seed(app, messages: int):
    """One user, one conversation of `messages` messages of ~600 characters, a model per window."""
    from sqlalchemy import insert

    from app.ai_models.models import AIModel
    from app.auth import services as auth_services
    from app.chat.models import Conversation, Message
    from app.extensions import db
    from app.models.base import new_uuid, utcnow

    user = auth_services.create_user("bench-context@example.org", "Bench", "bench password, not secret")
    models = []
    for label, window, max_tokens in WINDOWS:
        model = AIModel(name=label, provider="openai", model_id=f"bench-{window}", base_url="http://127.0.0.1:9/v1",
                        context_window=window, max_tokens=max_tokens, allowed_roles=[], active=True)
        db.session.add(model)
        models.append(model)
    conversation = Conversation(user_id=user.id, title="Bench: 5,000 messages", message_count=messages,
                                system_prompt="You are a helpful assistant.")
    db.session.add(conversation)
    db.session.flush()
    start = utcnow() - timedelta(days=30)
    rows = []
    for number in range(messages):
        text = f"Message {number}: " + "some words of a fairly long turn in the conversation " * 11
        rows.append({"id": new_uuid(), "conversation_id": conversation.id, "user_id": user.id,
                     "role": "user" if number % 2 == 0 else "assistant", "content": text, "content_html": text,
                     "status": "complete", "created_at": start + timedelta(seconds=number)})
    for first in range(0, len(rows), 2_000):
        db.session.execute(insert(Message), rows[first:first + 2_000])
    question = Message(conversation_id=conversation.id, user_id=user.id, role="assistant", content="",
                       status="streaming")
    db.session.add(question)
    db.session.commit()
    return conversation.id, question.id, [m.id for m in models]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_database_arguments(parser)
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    with database_from_args(args, "context") as database:
        app = make_app(database.url)
        with app.app_context():
            from app.ai_models.models import AIModel
            from app.chat.context import fit_history
            from app.chat.models import Conversation, Message
            from app.extensions import db

            conversation_id, message_id, model_ids = seed(app, args.messages)
            print(f"# {describe_machine(engine_of(app))}")
            print(f"\n## Building the request for a {args.messages:,}-message conversation "
                  f"({database.kind}; {args.runs} runs each; goal < {GOAL_MS:.0f} ms)\n")
            print("| model | messages sent | left out | SQL statements | p50 ms | p95 ms |")
            print("| --- | ---: | ---: | ---: | ---: | ---: |")
            counter = QueryCounter(engine_of(app))
            for (label, _window, max_tokens), model_id in zip(WINDOWS, model_ids, strict=True):
                timings, fitted, statements = [], None, 0
                for run in range(args.runs + 3):
                    db.session.expire_all()
                    db.session.rollback()
                    message = db.session.get(Message, message_id)
                    conversation = db.session.get(Conversation, conversation_id)
                    model = db.session.get(AIModel, model_id)
                    with counter.counting() as statements_run:
                        started = time.perf_counter()
                        fitted = fit_history(message, conversation, model, max_tokens)
                        elapsed = time.perf_counter() - started
                    if run >= 3:  # the first runs warm caches and statement compilation
                        timings.append(elapsed * 1000)
                    statements = len(statements_run)
                print(f"| {label} | {len(fitted.history):,} | {fitted.left_out_count:,} | {statements} | "
                      f"{percentile(timings, 50):.1f} | {percentile(timings, 95):.1f} |")
            counter.close()


if __name__ == "__main__":
    main()
