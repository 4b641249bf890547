"""Fill a database fast with realistic chat data, through the real tables (bulk Core inserts).

    python -m bench.seed [--postgres | --database-url URL] --users 50 --conversations-per-user 20 \
        --messages-per-conversation 10 --heavy-user-conversations 2000 --long-conversation-messages 1000

Makes an admin, N ordinary users with M conversations of K messages each, one "heavy" user with C
conversations (K messages each; a few pinned, a few archived), and among them one conversation of L
messages. Every message stores its Markdown and its HTML (rendered once per distinct text with the
app's renderer), answers carry tokens and cost, and each answer has its provider call in
`model_requests`; conversation totals (message_count, tokens, cost, last activity) match their rows.
Every account's password is PASSWORD (hashed once)."""
from __future__ import annotations

import argparse
import os
import random
import secrets
import time
import uuid
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bench.common import add_database_arguments, database_from_args, make_app

PASSWORD = "bench password, not secret"
ADMIN_EMAIL = "bench-admin@example.org"
HEAVY_EMAIL = "bench-heavy@example.org"
LONG_TITLE = "Bench: the long conversation"
BATCH_SIZE = 5_000
HISTORY_MESSAGES = 40  # what the app sends as context (app.chat.services.HISTORY_MESSAGES)

warnings.filterwarnings("ignore", message="Dialect sqlite\\+pysqlite does \\*not\\* support Decimal")

# --- what the messages say ----------------------------------------------------------------------

USER_TEXTS = [
    "Hi! Can you help me plan a three-day trip to Lisbon?",
    "What is the difference between a process and a thread?",
    "Write a Python function that reverses the words of a sentence.",
    ("Summarise this for me: the meeting moved to Thursday, the budget review is postponed, and Ana "
    "takes over the vendor contract until the end of the quarter."),
    "Explain keyset pagination like I am five.",
    "Give me a table comparing SQLite and PostgreSQL for a small web app.",
    "Why does my `git rebase` keep stopping with conflicts in the same file?",
    "Thanks, that works. One more question: how do I make it case-insensitive?",
    "Translate 'the train leaves at noon' into French, German and Portuguese.",
    "Can you review this SQL?\n\n```sql\nSELECT * FROM orders WHERE user_id = 42 ORDER BY created_at DESC;\n```",
    "List five good names for a cat who likes boxes.",
    "How many tokens is a typical page of English text?",
]

_LONG_ANSWER = "\n\n".join(
    [
        "## A longer answer\n\nHere is a detailed walk-through, in parts, with the trade-offs of each step.",
        *[
            f"### Step {n}\n\nThis step explains one idea at length, so that the page has realistic "
            f"paragraphs to render. It mentions `code_{n}()`, a [link](https://example.org/{n}) and "
            f"**bold** and *italic* text, then continues for a while to reach a typical answer size "
            f"of a few kilobytes, which is what models write when asked to explain something well."
            for n in range(1, 9)
        ],
        ("```python\nfrom dataclasses import dataclass\n\n\n@dataclass\nclass Page:\n    rows: list\n"
        "    next_cursor: str | None\n\n\ndef first_page(rows, size=30):\n"
        "    return Page(rows[:size], rows[size - 1].id if len(rows) > size else None)\n```"),
        "In short: measure first, then change one thing at a time.",
    ]
)

ASSISTANT_TEXTS = [
    "Sure! Here is a plan:\n\n1. **Day 1**: Alfama and the castle.\n2. **Day 2**: Belém.\n3. **Day 3**: Sintra.",
    "A *process* has its own memory; *threads* share the memory of their process. Switching threads is cheaper.",
    ("```python\ndef reverse_words(sentence: str) -> str:\n"
    "    return \" \".join(reversed(sentence.split()))\n```\n\n"
    "It splits on whitespace, reverses the list and joins it again."),
    ("- The meeting is on **Thursday**.\n- The budget review is postponed.\n"
    "- Ana owns the vendor contract this quarter."),
    ("Imagine a long line of toys. Instead of counting from the start each time, you remember the last toy "
    "you looked at and continue after it."),
    ("| | SQLite | PostgreSQL |\n| --- | --- | --- |\n| setup | a file | a server |\n| concurrency | one writer "
    "| many writers |\n| full-text search | FTS5 | tsvector |\n| good for | small apps | anything bigger |"),
    ("Probably a file both branches change. Run `git rerere` to record your resolutions:\n\n"
    "```bash\ngit config --global rerere.enabled true\n```"),
    "Use `str.casefold()` on both sides before comparing.",
    ("- French: *le train part à midi*\n- German: *der Zug fährt um zwölf Uhr ab*\n"
    "- Portuguese: *o comboio parte ao meio-dia*"),
    "Looks fine. Add an index on `(user_id, created_at)` and select only the columns you need.",
    "1. Boxer\n2. Cardboard\n3. Parcel\n4. Sir Fits-a-Lot\n5. Amazon",
    "About 500 words, so roughly **650–700 tokens**.",
    _LONG_ANSWER,
]

TOPICS = ["Lisbon trip", "threads", "Python", "meeting notes", "pagination", "databases", "git",
          "translation", "SQL review", "cat names", "tokens", "budget", "a bug", "the launch", "hiring"]


def approximate_tokens(text: str) -> int:
    return max(1, round(len(text.split()) * 4 / 3))


def uuid7_at(moment: datetime) -> uuid.UUID:
    """A UUIDv7 (the layout of app.models.base.new_uuid) whose time is `moment`.

    new_uuid() stamps *now*, and its monotonic guard adds 1 ms per id when called faster than that:
    100,000 ids in a burst would run 100 s into the future, and a message sent by the app in the
    next minutes would then sort *before* seeded ones (the app orders messages by id). Stamping the
    row's own past created_at keeps ids and timestamps consistent and leaves the present to the app."""
    value = (int(moment.timestamp() * 1000) & 0xFFFFFFFFFFFF) << 80  # unix_ts_ms
    value |= 0x7 << 76  # version 7
    value |= secrets.randbits(12) << 64  # rand_a
    value |= 0b10 << 62  # RFC 9562 variant
    value |= secrets.randbits(62)  # rand_b
    return uuid.UUID(int=value)


# --- the plan -------------------------------------------------------------------------------------

@dataclass
class SeedResult:
    admin_email: str
    heavy_email: str
    password: str
    heavy_user_id: uuid.UUID
    long_conversation_id: uuid.UUID
    model_id: int
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def add_seed_arguments(parser: argparse.ArgumentParser, *, users=50, conversations=20, messages=10,
                       heavy=2_000, long=1_000) -> None:
    parser.add_argument("--users", type=int, default=users, help="ordinary users (default %(default)s)")
    parser.add_argument("--conversations-per-user", type=int, default=conversations,
                        help="conversations of each ordinary user (default %(default)s)")
    parser.add_argument("--messages-per-conversation", type=int, default=messages,
                        help="messages per conversation, the heavy user's included (default %(default)s)")
    parser.add_argument("--heavy-user-conversations", type=int, default=heavy,
                        help="conversations of the heavy user (default %(default)s; the SPEC goal is 10000)")
    parser.add_argument("--long-conversation-messages", type=int, default=long,
                        help="messages of the heavy user's long conversation (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="rows per INSERT (default %(default)s)")
    parser.add_argument("--random-seed", type=int, default=7)


def find_seed(engine) -> SeedResult | None:
    """The bench data already in this database, if any."""
    from sqlalchemy import select

    from app.ai_models.models import AIModel
    from app.auth.models import User
    from app.chat.models import Conversation

    with engine.connect() as conn:
        heavy_id = conn.scalar(select(User.id).where(User.email == HEAVY_EMAIL))
        if heavy_id is None:
            return None
        long_id = conn.scalar(select(Conversation.id).where(Conversation.user_id == heavy_id,
                                                            Conversation.title == LONG_TITLE).limit(1))
        model_id = conn.scalar(select(AIModel.id).where(AIModel.provider == "echo").order_by(AIModel.id).limit(1))
    return SeedResult(ADMIN_EMAIL, HEAVY_EMAIL, PASSWORD, heavy_id, long_id, model_id)


class _Writer:
    """Buffers rows per table and inserts them in batches, parents before children."""

    def __init__(self, conn, batch_size: int):
        from app.auth.models import User
        from app.chat.models import Conversation, Message, ModelRequest

        self.conn, self.batch_size = conn, batch_size
        # Dicts of one executemany must share their keys, so answers (with `parts`) and user
        # messages (parts left NULL) are buffered apart.
        self.order = [("users", User.__table__), ("nexus_conversations", Conversation.__table__),
                      ("nexus_messages/user", Message.__table__), ("nexus_messages/assistant", Message.__table__),
                      ("model_requests", ModelRequest.__table__)]
        self.buffers: dict[str, list[dict]] = {name: [] for name, _ in self.order}
        self.counts: dict[str, int] = {}

    def add(self, name: str, row: dict) -> None:
        self.buffers[name].append(row)

    def maybe_flush(self) -> None:
        """Called between conversations only: a conversation's row is written after its messages
        (its totals come from them) but must reach the database first (foreign keys)."""
        if any(len(rows) >= self.batch_size for rows in self.buffers.values()):
            self.flush()

    def flush(self) -> None:
        from sqlalchemy import insert

        for name, table in self.order:
            rows = self.buffers[name]
            for start in range(0, len(rows), self.batch_size):
                self.conn.execute(insert(table), rows[start:start + self.batch_size])
            key = name.split("/")[0]
            self.counts[key] = self.counts.get(key, 0) + len(rows)
            self.buffers[name] = []


def seed(engine, *, users: int, conversations_per_user: int, messages_per_conversation: int,
         heavy_user_conversations: int, long_conversation_messages: int, batch_size: int = BATCH_SIZE,
         random_seed: int = 7, quiet: bool = False) -> SeedResult:
    """Insert the whole data set in one transaction; returns where the interesting rows are."""
    from sqlalchemy import select

    from app.ai_models.models import AIModel
    from app.auth.services import hash_password
    from app.core.markdown import RENDERER_VERSION, render_markdown_safe
    from app.llm.pricing import cost_usd

    if find_seed(engine) is not None:
        raise SystemExit("this database already holds bench data: seed a fresh one (bench.pages and bench.streaming "
                         "use this one as it is)")
    rng = random.Random(random_seed)
    started = time.perf_counter()
    hashed = hash_password(PASSWORD)  # once: argon2 is slow on purpose
    rendered = {text: render_markdown_safe(text) for text in USER_TEXTS + ASSISTANT_TEXTS}
    tokens = {text: approximate_tokens(text) for text in USER_TEXTS + ASSISTANT_TEXTS}
    prepared = time.perf_counter() - started

    with engine.connect() as conn:
        model = conn.execute(select(AIModel.id, AIModel.model_id, AIModel.provider, AIModel.input_cost_per_million,
                                    AIModel.output_cost_per_million, AIModel.cached_input_cost_per_million)
                             .where(AIModel.provider == "echo").order_by(AIModel.id).limit(1)).one()
    prices = (model.input_cost_per_million, model.output_cost_per_million, model.cached_input_cost_per_million)
    now = datetime.now(UTC).replace(microsecond=0)

    insert_started = time.perf_counter()
    with engine.begin() as conn:
        writer = _Writer(conn, batch_size)

        def add_user(email: str, name: str, role: str, created: datetime) -> uuid.UUID:
            user_id = uuid7_at(created)
            writer.add("users", {
                "id": user_id, "email": email, "display_name": name, "hashed_password": hashed, "role": role,
                "is_active": True, "last_login_at": None, "created_at": created, "updated_at": created})
            return user_id

        def add_conversation(user_id: uuid.UUID, messages: int, ends_at: datetime, *, title: str | None = None,
                             pinned: bool = False, archived: bool = False) -> uuid.UUID:
            step = timedelta(seconds=rng.randint(20, 90))
            first_at = ends_at - step * max(messages - 1, 0)
            created = first_at - timedelta(seconds=1)
            conversation_id = uuid7_at(created)
            totals = {"input": 0, "output": 0, "cost": Decimal(0)}
            history: list[int] = []  # token counts of the earlier messages (the model's context)
            at = first_at
            for number in range(messages):
                at = first_at + step * number
                message_id = uuid7_at(at)
                pair = rng.randrange(len(USER_TEXTS))
                if number % 2 == 0:
                    text = USER_TEXTS[pair]
                    writer.add("nexus_messages/user", {
                        "id": message_id, "conversation_id": conversation_id, "user_id": user_id, "role": "user",
                        "content": text, "content_html": rendered[text], "renderer_version": RENDERER_VERSION,
                        "model_id": None, "status": "complete", "created_at": at})
                else:
                    text = ASSISTANT_TEXTS[pair] if rng.random() < 0.8 else ASSISTANT_TEXTS[-1]
                    input_tokens = sum(history[-HISTORY_MESSAGES:])
                    output_tokens = tokens[text]
                    cost = cost_usd(input_tokens, output_tokens, 0, *prices)
                    input_cost = cost_usd(input_tokens, 0, 0, *prices)
                    requested = at - timedelta(seconds=2)
                    first_token = requested + timedelta(milliseconds=rng.randint(200, 900))
                    writer.add("nexus_messages/assistant", {
                        "id": message_id, "conversation_id": conversation_id, "user_id": user_id, "role": "assistant",
                        "content": text, "content_html": rendered[text], "renderer_version": RENDERER_VERSION,
                        "parts": [{"type": "text", "text": text}], "model_id": model.id, "status": "complete",
                        "finish_reason": "stop", "input_tokens": input_tokens, "output_tokens": output_tokens,
                        "cached_input_tokens": 0, "cost_usd": cost, "created_at": requested, "completed_at": at})
                    writer.add("model_requests", {
                        "id": uuid7_at(requested), "user_id": user_id, "chat_id": conversation_id,
                        "message_id": message_id, "ai_model_id": model.id, "model_name": model.model_id,
                        "provider": model.provider, "task_type": "chat", "requested_at": requested,
                        "first_token_at": first_token, "responded_at": at,
                        "latency_ms": int((at - requested).total_seconds() * 1000),
                        "time_to_first_token_ms": int((first_token - requested).total_seconds() * 1000),
                        "input_tokens": input_tokens, "output_tokens": output_tokens, "cached_input_tokens": 0,
                        "total_tokens": input_tokens + output_tokens, "input_cost_usd": input_cost,
                        "output_cost_usd": cost - input_cost, "total_cost_usd": cost, "status": "success"})
                    totals["input"] += input_tokens
                    totals["output"] += output_tokens
                    totals["cost"] += cost
                history.append(tokens[text])
            last_at = at if messages else None
            writer.add("nexus_conversations", {
                "id": conversation_id, "user_id": user_id,
                "title": title or f"{rng.choice(TOPICS).capitalize()} #{rng.randint(1, 9999)}",
                "model_id": model.id, "system_prompt": None, "is_pinned": pinned, "is_archived": archived,
                "is_title_set_by_user": False, "message_count": messages, "total_input_tokens": totals["input"],
                "total_output_tokens": totals["output"], "total_tokens": totals["input"] + totals["output"],
                "total_cost_usd": totals["cost"], "last_message_at": last_at,
                "last_activity_at": last_at or created, "client_request_id": None,
                "created_at": created, "updated_at": last_at or created})
            writer.maybe_flush()
            return conversation_id

        def past(max_days: float) -> datetime:
            """A moment in the last `max_days`, at least ten minutes ago."""
            return now - timedelta(minutes=10) - timedelta(seconds=rng.uniform(0, max_days * 86400))

        add_user(ADMIN_EMAIL, "Bench Admin", "admin", now - timedelta(days=800))
        heavy_id = add_user(HEAVY_EMAIL, "Heavy User", "user", now - timedelta(days=700))
        # The long conversation: active an hour ago, so it sits near the top of the sidebar.
        long_id = add_conversation(heavy_id, long_conversation_messages, now - timedelta(hours=1), title=LONG_TITLE)
        pinned_left = min(5, max(heavy_user_conversations - 1, 0))
        for number in range(max(heavy_user_conversations - 1, 0)):
            pinned = pinned_left > 0 and number % 97 == 0
            pinned_left -= pinned
            add_conversation(heavy_id, messages_per_conversation, past(365), pinned=pinned,
                             archived=not pinned and rng.random() < 0.02)
        for number in range(1, users + 1):
            user_id = add_user(f"bench-user{number:05d}@example.org", f"Bench User {number}", "user", past(600))
            for _ in range(conversations_per_user):
                add_conversation(user_id, messages_per_conversation, past(180))
        writer.flush()
    seconds = time.perf_counter() - insert_started
    result = SeedResult(ADMIN_EMAIL, HEAVY_EMAIL, PASSWORD, heavy_id, long_id, model.id,
                        rows=dict(writer.counts), seconds=seconds)
    if not quiet:
        total = sum(result.rows.values())
        print(f"# seeded {total:,} rows in {seconds:.2f} s = {total / seconds:,.0f} rows/s "
              f"(+ {prepared:.2f} s for one password hash and {len(rendered)} Markdown renders)")
        print("#   " + ", ".join(f"{name} {count:,}" for name, count in result.rows.items()))
    return result


def seed_from_args(engine, args: argparse.Namespace, quiet: bool = False) -> SeedResult:
    return seed(engine, users=args.users, conversations_per_user=args.conversations_per_user,
                messages_per_conversation=args.messages_per_conversation,
                heavy_user_conversations=args.heavy_user_conversations,
                long_conversation_messages=args.long_conversation_messages, batch_size=args.batch_size,
                random_seed=args.random_seed, quiet=quiet)


def analyze(engine) -> None:
    """Fresh planner statistics after a bulk load (what autovacuum / a long-running app would have)."""
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.seed", description=__doc__.split("\n\n")[0])
    add_database_arguments(parser)
    add_seed_arguments(parser)
    args = parser.parse_args()
    with database_from_args(args, "seed") as database:
        if database.fresh and not args.database_url and not args.keep:
            print("# (a fresh database that is removed at the end: this run measures insert speed; pass "
                  "--database-url or --keep to reuse the data)")
        app = make_app(database.url)
        from bench.common import describe_machine, engine_of

        engine = engine_of(app)
        print(describe_machine(engine))
        with app.app_context():  # the password hasher reads its settings from the app
            result = seed_from_args(engine, args)
        started = time.perf_counter()
        analyze(engine)
        print(f"# ANALYZE: {time.perf_counter() - started:.2f} s")
        print(f"# sign in as {result.heavy_email} (heavy user) or {result.admin_email} (admin), "
              f"password {result.password!r}; long conversation /chat/{result.long_conversation_id}")
        engine.dispose()


if __name__ == "__main__":
    os.environ.setdefault("SECRET_KEY", "bench-secret-key-not-for-production")
    main()
