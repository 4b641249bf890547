"""What Studio adds to a provider's stream: time to first token, per-token cost, and the cost of sending.

    python -m bench.streaming [--postgres | --database-url URL] [--runs 20] [--sends 20] [--echo-delays 0,0.03]

The app runs over real HTTP (werkzeug, threaded) in this process; an httpx client signs in through
the forms and drives it like the browser does:

1. new chat: POST /chat → 303 → GET the conversation page → open its `sse-connect` stream, timing
   POST start → first `event: delta` and → `event: done`. The demo provider (echo) yields every chunk
   after app.config["ECHO_DELAY_SECONDS"] seconds; at 0 the provider costs nothing and what is left is Studio's own
   overhead. The provider's own time to first token is read back from `model_requests`, so
   "added by Studio" = what the client saw − what the provider took. A short and a long answer give
   the cost of each extra token (the slope).
2. sending cost: POST /chat/<id>/messages (as htmx sends it) into conversations of ~10 messages and
   into the seeded 1,000-message one, with the SQL statements of each POST; the SPEC wants both equal.
3. --openai-fake: the same new-chat timing against tests/fakes/openai_server.py (the real OpenAI
   client code over a local socket).
4. live formatting (first, and alone with --live-formatting-only): what the SSE endpoint does with a
   20 KB answer with code and tables as it arrives in pieces, with live formatting on (each completed
   block rendered once, app/chat/live.py) and off (escaped text only): CPU and bytes of the events,
   against rendering the final answer once."""
from __future__ import annotations

import argparse
import html
import math
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass

from bench.common import (
    CLIENT_REQUEST_ID,
    SSE_CONNECT,
    QueryCounter,
    add_database_arguments,
    csrf_token_in,
    database_from_args,
    describe_machine,
    engine_of,
    fmt_ms,
    make_app,
    percentile,
    print_table,
    shorten_sql,
)
from bench.seed import add_seed_arguments, analyze, find_seed, seed_from_args

SHORT_PROMPT = "Tell me something about benchmarks."
LONG_PROMPT = "Tell me something long about benchmarks. [[echo:slow]]"  # the demo adds 119 words
STREAM_URL = re.compile(r"/chat/([0-9a-f-]{36})/stream/([0-9a-f-]{36})")


# --- the client side ------------------------------------------------------------------------------

@dataclass
class Run:
    post: float  # seconds from POST start to its response
    page: float | None  # … to the conversation page (new chat only)
    first: float  # … to the first answer text (first `event: delta`, or text already in the page)
    done: float  # … to `event: done` (or a finished answer in the page)
    via_sse: bool
    message_id: uuid.UUID | None
    queries: int | None = None
    statements: list[str] | None = None  # of the POST (sends only)
    provider_ttft: float | None = None  # seconds, from model_requests
    provider_total: float | None = None


class Browser:
    """An httpx client that signs in through the forms and keeps the CSRF token of the pages."""

    def __init__(self, base_url: str, email: str, password: str):
        import httpx

        self.http = httpx.Client(base_url=base_url, timeout=60, follow_redirects=False)
        page = self.http.get("/login").text
        response = self.http.post("/login", data={"email": email, "password": password,
                                                  "csrf_token": csrf_token_in(page)})
        if response.status_code != 303:
            raise SystemExit(f"sign-in failed: HTTP {response.status_code}")
        self.csrf = csrf_token_in(self.http.get("/account").text)

    def follow_stream(self, url: str, started: float) -> tuple[float | None, float]:
        """Read an SSE stream until `done`: (time of the first delta or None, time of done), since `started`."""
        first = None
        with self.http.stream("GET", url, headers={"Accept": "text/event-stream"}) as response:
            if response.status_code != 200:
                raise RuntimeError(f"stream answered HTTP {response.status_code}")
            for line in response.iter_lines():
                if line == "event: delta" and first is None:
                    first = time.perf_counter() - started
                elif line == "event: done":
                    return first, time.perf_counter() - started
        raise RuntimeError("the stream ended without `event: done`")

    def new_chat(self, prompt: str, model_id: str) -> Run:
        page = self.http.get("/chat").text
        token = CLIENT_REQUEST_ID.search(page).group(1)
        started = time.perf_counter()
        response = self.http.post("/chat", data={"csrf_token": csrf_token_in(page), "content": prompt,
                                                 "client_request_id": token, "model_id": model_id})
        post = time.perf_counter() - started
        if response.status_code != 303:
            raise RuntimeError(f"POST /chat answered HTTP {response.status_code}")
        page = self.http.get(response.headers["location"]).text
        page_at = time.perf_counter() - started
        match = SSE_CONNECT.search(page)
        if match is None:  # the answer was finished before the page was made: it is in the page
            message_ids = re.findall(r'id="message-([0-9a-f-]{36})"', page)
            return Run(post, page_at, page_at, page_at, False, uuid.UUID(message_ids[-1]) if message_ids else None)
        url = html.unescape(match.group(1))
        first, done = self.follow_stream(url, started)
        message_id = uuid.UUID(STREAM_URL.search(url).group(2))
        streaming_body = re.search(r'sse-swap="delta" hx-swap="beforeend">([^<]*)</div>', page)
        if streaming_body and streaming_body.group(1).strip():  # partial text was already in the page
            first = page_at
        return Run(post, page_at, first if first is not None else done, done, True, message_id)

    def send(self, conversation_id: uuid.UUID, prompt: str, model_id: str, counter: QueryCounter) -> Run:
        """A follow-up message as htmx posts it; the fragment carries the stream to open."""
        headers = {"HX-Request": "true", "X-CSRFToken": self.csrf, "HX-Target": "messages"}
        data = {"content": prompt, "client_request_id": uuid.uuid4().hex, "model_id": model_id}
        with counter.counting() as statements:
            started = time.perf_counter()
            response = self.http.post(f"/chat/{conversation_id}/messages", data=data, headers=headers)
            post = time.perf_counter() - started
            queries, sent_statements = len(statements), list(statements)
        if response.status_code != 200:
            raise RuntimeError(f"POST /chat/{conversation_id}/messages answered HTTP {response.status_code}: "
                               f"{response.text[:300]}")
        url = html.unescape(SSE_CONNECT.search(response.text).group(1))
        first, done = self.follow_stream(url, started)
        return Run(post, None, first if first is not None else done, done, True,
                   uuid.UUID(STREAM_URL.search(url).group(2)), queries, sent_statements)


# --- the server side -------------------------------------------------------------------------------

class LiveServer:
    def __init__(self, app):
        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


def fill_provider_times(engine, runs: list[Run]) -> None:
    """The provider's own time to first token and total time, as the generator recorded them."""
    from sqlalchemy import select

    from app.chat.models import ModelRequest

    ids = [r.message_id for r in runs if r.message_id is not None]
    with engine.connect() as conn:
        rows = conn.execute(select(ModelRequest.message_id, ModelRequest.requested_at, ModelRequest.first_token_at,
                                   ModelRequest.responded_at).where(ModelRequest.message_id.in_(ids))).all()
    by_message = {row.message_id: row for row in rows}
    for run in runs:
        row = by_message.get(run.message_id)
        if row is not None and row.first_token_at is not None:
            run.provider_ttft = (row.first_token_at - row.requested_at).total_seconds()
            run.provider_total = (row.responded_at - row.requested_at).total_seconds()


def answer_chunks(prompt: str) -> int:
    """How many TextDelta chunks the demo provider sends for this prompt (3 words each)."""
    from app.llm.echo import EchoProvider

    return math.ceil(len(EchoProvider().compose_answer(prompt).split(" ")) / 3)


def ms(values: list[float], p: float) -> str:
    values = [v for v in values if v is not None]
    return fmt_ms(percentile(values, p) * 1000) if values else "-"


def set_echo_delay(app, delay: float) -> None:
    """The demo provider's pause between chunks, read from the app's config at each generation."""
    app.config["ECHO_DELAY_SECONDS"] = delay
    app.config["ECHO_SLOW_DELAY_SECONDS"] = delay  # the long answer's pace: the same


def wait_idle(engine, timeout: float = 10.0) -> None:
    """Until no answer is being written (a send while one streams is refused with 409)."""
    from sqlalchemy import select

    from app.chat.models import Message

    deadline = time.time() + timeout
    while time.time() < deadline:
        with engine.connect() as conn:
            if conn.scalar(select(Message.id).where(Message.status == "streaming").limit(1)) is None:
                return
        time.sleep(0.02)


# --- live formatting -------------------------------------------------------------------------------

def live_answer_text(target_chars: int = 20_000) -> str:
    """A model's long answer: prose with bold, links and inline code, lists, Python and SQL code, tables;
    every section different (no two blocks alike, so a per-process cache of blocks cannot help)."""
    sections: list[str] = []
    number = 0
    while sum(len(part) + 2 for part in sections) < target_chars:
        number += 1
        prose = (f"The **check number {number}** is whether the index is used: run `EXPLAIN` on query {number} "
                 f"and look for a *sequential scan*. See [the manual](https://www.postgresql.org/docs/{number}/). ")
        code = "\n".join(
            ["```python", f"def summarise_{number}(rows: list[dict]) -> dict:",
             f'    """Totals per key for part {number}, skipping empty values."""',
             "    totals: dict[str, float] = {}"]
            + [f"    for row in rows[{n}::{n + number}]:\n"
               f"        totals[row['k{n}']] = totals.get(row['k{n}'], 0) + row['v']" for n in range(8)]
            + ["    return totals", "```"])
        sql = (f"```sql\nSELECT user_id, count(*) AS n\nFROM messages\n"
               f"WHERE created_at > now() - interval '{number} days'\n"
               "GROUP BY user_id\nORDER BY n DESC\nLIMIT 20;\n```")
        table = "| step | time (ms) | share | note |\n| --- | ---: | ---: | :--- |\n" + "\n".join(
            f"| step {number}.{n} | {n * number * 3.7:.1f} | {n * 2}% | **{'fast' if n % 2 else 'slow'}** path, "
            "`cached` |" for n in range(1, 9))
        sections += [f"## Part {number}", prose * 3, f"1. Measure part {number} first.\n2. Change one thing.\n"
                     "3. Measure again.", code, prose * 2, table,
                     sql if number % 2 else f"- point {number}\n- another point\n  - nested", prose]
    return "\n\n".join(sections)


def bench_live_formatting(repeats: int = 5) -> None:
    """CPU and SSE bytes of one viewer's stream, live formatting on and off, against the final render."""
    from app.chat.live import LiveAnswer
    from app.chat.streaming import sse_frame
    from app.core import markdown_blocks
    from app.core.markdown import render_markdown_safe
    from app.core.markdown_blocks import completed_blocks

    text = live_answer_text()
    final_html = render_markdown_safe(text)
    message_id = uuid.uuid4()

    def stream(pieces: list[str], live: bool) -> int:
        """The events the SSE endpoint writes for these pieces; returns their size in bytes."""
        answer = LiveAnswer(message_id, "", enabled=live)
        markdown_blocks._CACHE.clear()  # the first viewer: every block rendered
        size, offset = 0, 0
        for piece in pieces:
            offset += len(piece)
            blocks = answer.read(piece)
            size += len(sse_frame("delta", html.escape(piece, quote=False), None if blocks else f"{offset}.0").encode())
            if blocks:
                size += len(sse_frame("blocks", blocks, f"{offset}.0").encode())
        return size

    def cpu_ms(work) -> float:
        times = []
        for _ in range(repeats):
            started = time.process_time()
            work()
            times.append(time.process_time() - started)
        return sorted(times)[len(times) // 2] * 1000

    final_ms = cpu_ms(lambda: render_markdown_safe(text))
    blocks, _ = completed_blocks(text)
    rows = []
    for piece_chars, label in ((50, "50 chars (a 200 ms flush at ~60 tokens/s)"), (16, "16 chars (every few tokens)")):
        pieces = [text[start:start + piece_chars] for start in range(0, len(text), piece_chars)]
        off_ms = cpu_ms(lambda pieces=pieces: stream(pieces, False))
        on_ms = cpu_ms(lambda pieces=pieces: stream(pieces, True))
        off_bytes, on_bytes = stream(pieces, False), stream(pieces, True)
        rows.append([label, len(pieces), f"{off_ms:.1f}", f"{on_ms:.1f}", f"{(on_ms - off_ms) / final_ms:.2f}×",
                     f"{(on_ms + final_ms) / (off_ms + final_ms):.2f}×",
                     f"{off_bytes / 1000:.1f}", f"{on_bytes / 1000:.1f}",
                     f"{on_bytes / len(final_html.encode()):.2f}×"])
    print(f"\n# live formatting: a {len(text) / 1000:.1f} KB answer ({len(blocks)} blocks, "
          f"{text.count('```') // 2} code blocks, {text.count('| --- |')} tables); final HTML "
          f"{len(final_html.encode()) / 1000:.1f} KB, its render {final_ms:.1f} ms CPU (median of {repeats})")
    print_table(["pieces of", "events", "CPU off ms", "CPU on ms", "live work ÷ final render",
                 "(on + final) ÷ (off + final)", "SSE KB off", "SSE KB on", "SSE on ÷ final HTML"], rows,
                title="Live formatting: one viewer's stream of the answer (the SSE endpoint's work, no database)")
    markdown_blocks._CACHE.clear()
    live_view_ms = cpu_ms(lambda: (markdown_blocks._CACHE.clear(), [markdown_blocks.render_block(b) for b in blocks]))
    scan_ms = cpu_ms(lambda: completed_blocks(text))
    print(f"\nA reload at the end of the answer renders its blocks once ({live_view_ms:.1f} ms cold, cached per "
          f"process after); a reconnect only scans ({scan_ms:.2f} ms).")


# --- the benchmark ---------------------------------------------------------------------------------

def bench_new_chats(browser: Browser, app, engine, model_id: str, runs: int, delays: list[float],
                    label: str) -> None:
    rows, slope_rows = [], []
    for delay in delays:
        set_echo_delay(app, delay)
        by_kind: dict[str, list[Run]] = {"short": [], "long": []}
        browser.new_chat(SHORT_PROMPT, model_id)  # warm-up
        for _ in range(runs):
            for kind, prompt in (("short", SHORT_PROMPT), ("long", LONG_PROMPT)):
                by_kind[kind].append(browser.new_chat(prompt, model_id))
                wait_idle(engine)
        for kind, prompt in (("short", SHORT_PROMPT), ("long", LONG_PROMPT)):
            measured = by_kind[kind]
            fill_provider_times(engine, measured)
            added = [r.first - r.provider_ttft for r in measured if r.provider_ttft is not None]
            rows.append([f"{delay:g} s", f"{kind} ({answer_chunks(prompt)} chunks)", len(measured),
                         ms([r.post for r in measured], 50), ms([r.page for r in measured], 50),
                         f"{ms([r.first for r in measured], 50)} / {ms([r.first for r in measured], 95)}",
                         f"{ms([r.provider_ttft for r in measured], 50)}",
                         f"{ms(added, 50)} / {ms(added, 95)}",
                         f"{ms([r.done for r in measured], 50)} / {ms([r.done for r in measured], 95)}",
                         f"{sum(r.via_sse for r in measured)}/{len(measured)}"])
        short, long = by_kind["short"], by_kind["long"]
        extra_chunks = answer_chunks(LONG_PROMPT) - answer_chunks(SHORT_PROMPT)
        done_slope = (percentile([r.done for r in long], 50) - percentile([r.done for r in short], 50)) / extra_chunks
        provider_slope = (percentile([r.provider_total or 0 for r in long], 50)
                          - percentile([r.provider_total or 0 for r in short], 50)) / extra_chunks
        slope_rows.append([f"{delay:g} s", extra_chunks, f"{done_slope * 1000:.2f}",
                           f"{provider_slope * 1000:.2f}", f"{(done_slope - delay) * 1000:.2f}"])
    print_table(["provider delay/chunk", "answer", "runs", "POST p50", "→ page p50", "→ first delta p50 / p95",
                 "provider TTFT p50", "added by Studio p50 / p95", "→ done p50 / p95", "via SSE"], rows,
                title=f"New chat, {label}: POST /chat → 303 → page → SSE (ms from POST start)")
    print_table(["provider delay/chunk", "extra chunks (long − short)", "client → done ms/chunk",
                 "generator ms/chunk (model_requests)", "added by Studio ms/chunk"], slope_rows,
                title=f"Per-token cost, {label}: slope between the short and the long answer (medians)")


def bench_sending(browser: Browser, engine, app, seeded, model_id: str, sends: int, show_queries: bool) -> None:
    """POST /chat/<id>/messages at ~10 messages vs in the 1,000-message conversation."""
    from flask import has_request_context, request
    from sqlalchemy import func, select

    from app.chat.models import Conversation, Message

    set_echo_delay(app, 0)
    with engine.connect() as conn:
        small_ids = list(conn.scalars(select(Conversation.id).where(
            Conversation.user_id == seeded.heavy_user_id, Conversation.is_archived.is_(False),
            Conversation.message_count.between(8, 12)).order_by(Conversation.last_activity_at).limit(sends)))
        long_count = conn.scalar(select(func.count()).select_from(Message)
                                 .where(Message.conversation_id == seeded.long_conversation_id))
    if not small_ids:
        raise SystemExit("no conversation of ~10 messages to send to (seed with --messages-per-conversation 10)")
    counter = QueryCounter(engine, accept=lambda: has_request_context() and request.method == "POST")
    small_runs, long_runs = [], []
    try:
        browser.send(small_ids[0], "warm-up", model_id, counter)
        wait_idle(engine)
        for number in range(sends):
            small_runs.append(browser.send(small_ids[number % len(small_ids)], SHORT_PROMPT, model_id, counter))
            wait_idle(engine)
            long_runs.append(browser.send(seeded.long_conversation_id, SHORT_PROMPT, model_id, counter))
            wait_idle(engine)
    finally:
        counter.close()
    rows = []
    for label, measured in ((f"~10 messages ({len(set(small_ids))} conversations)", small_runs),
                            (f"{long_count:,} → {long_count + 2 * sends:,} messages", long_runs)):
        queries = sorted({r.queries for r in measured})
        rows.append([label, len(measured),
                     f"{ms([r.post for r in measured], 50)} / {ms([r.post for r in measured], 95)}",
                     ms([r.post for r in measured], 100),
                     "/".join(str(q) for q in queries),
                     f"{ms([r.first for r in measured], 50)} / {ms([r.first for r in measured], 95)}",
                     f"{ms([r.done for r in measured], 50)} / {ms([r.done for r in measured], 95)}"])
    print_table(["conversation", "sends", "POST ms p50 / p95", "POST max", "SQL per POST",
                 "→ first delta p50 / p95", "→ done p50 / p95"], rows,
                title="Sending: POST /chat/<id>/messages (htmx) then its SSE stream, provider delay 0 "
                      "(ms from POST start)")
    if show_queries:
        for label, run in (("~10 messages", small_runs[-1]), ("long conversation", long_runs[-1])):
            print(f"\n## POST /chat/<id>/messages, {label}: {len(run.statements)} statements")
            for statement in run.statements:
                print("  - " + shorten_sql(statement, 240))


def register_fake_openai(app, base_url: str) -> str:
    from app.ai_models.models import AIModel
    from app.extensions import db

    os.environ["BENCH_FAKE_OPENAI_KEY"] = "sk-bench-fake"
    with app.app_context():
        model = AIModel(name="Bench fake OpenAI", provider="openai", model_id="gpt-bench-fake", base_url=base_url,
                        api_key_env="BENCH_FAKE_OPENAI_KEY", allowed_roles=[], active=True)
        db.session.add(model)
        db.session.commit()
        return str(model.id)


def bench_openai_fake(browser: Browser, engine, app, runs: int, delays: list[float]) -> None:
    try:
        from tests.fakes.openai_server import FakeOpenAIServer
        from tests.fakes.server import Scenario
    except ImportError:
        print("\n# tests/fakes/openai_server.py is not there: the --openai-fake run is skipped")
        return
    fake = FakeOpenAIServer(scenario=Scenario(text=" ".join(f"word{n}" for n in range(1, 31)))).start()
    try:
        model_id = register_fake_openai(app, fake.url + "/v1")
        rows = []
        for delay in delays:
            fake.scenario.chunk_delay = delay
            browser.new_chat(SHORT_PROMPT, model_id)  # warm-up
            measured = []
            for _ in range(runs):
                measured.append(browser.new_chat(SHORT_PROMPT, model_id))
                wait_idle(engine)
            fill_provider_times(engine, measured)
            added = [r.first - r.provider_ttft for r in measured if r.provider_ttft is not None]
            rows.append([f"{delay:g} s", len(measured), ms([r.post for r in measured], 50),
                         f"{ms([r.first for r in measured], 50)} / {ms([r.first for r in measured], 95)}",
                         ms([r.provider_ttft for r in measured], 50), f"{ms(added, 50)} / {ms(added, 95)}",
                         f"{ms([r.done for r in measured], 50)} / {ms([r.done for r in measured], 95)}",
                         f"{sum(r.via_sse for r in measured)}/{len(measured)}"])
        print_table(["fake delay/chunk (30 chunks)", "runs", "POST p50", "→ first delta p50 / p95",
                     "provider TTFT p50", "added by Studio p50 / p95", "→ done p50 / p95", "via SSE"], rows,
                    title="New chat against the fake OpenAI server (tests/fakes/openai_server.py), ms from POST start")
    finally:
        fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.streaming", description=__doc__.split("\n\n")[0])
    add_database_arguments(parser)
    add_seed_arguments(parser, users=2, conversations=3, messages=10, heavy=100, long=1_000)
    parser.add_argument("--skip-seed", action="store_true", help="the database is already seeded by bench.seed")
    parser.add_argument("--runs", type=int, default=20,
                        help="new chats per answer length and delay (default %(default)s)")
    parser.add_argument("--sends", type=int, default=20, help="sends into each conversation size (default %(default)s)")
    parser.add_argument("--echo-delays", default="0,0.03",
                        help="seconds between the demo provider's chunks, comma-separated (default %(default)s; "
                             "0 = Studio's overhead alone, 0.03 = the demo's normal pace)")
    parser.add_argument("--show-queries", action="store_true", help="print the SQL statements of a send")
    parser.add_argument("--openai-fake", action="store_true",
                        help="also time new chats against tests/fakes/openai_server.py")
    parser.add_argument("--live-formatting-only", action="store_true",
                        help="only the live formatting measurement (no database, no server)")
    args = parser.parse_args()
    delays = [float(value) for value in args.echo_delays.split(",") if value.strip()]
    bench_live_formatting()
    if args.live_formatting_only:
        return

    with database_from_args(args, "streaming") as database:
        app = make_app(database.url)
        engine = engine_of(app)
        seeded = find_seed(engine)
        if seeded is None:
            if args.skip_seed:
                raise SystemExit("--skip-seed, but there is no bench data in this database (run bench.seed)")
            with app.app_context():  # the password hasher reads its settings from the app
                seeded = seed_from_args(engine, args)
            analyze(engine)
        else:
            print("# using the bench data already in the database")
        server = LiveServer(app)
        try:
            browser = Browser(server.url, seeded.heavy_email, seeded.password)
            model_id = str(seeded.model_id)
            print(describe_machine(engine))
            print(f"# {database.label}; app at {server.url} (werkzeug, threaded); demo model id {model_id}")
            bench_new_chats(browser, app, engine, model_id, args.runs, delays, "demo provider (echo)")
            bench_sending(browser, engine, app, seeded, model_id, args.sends, args.show_queries)
            if args.openai_fake:
                bench_openai_fake(browser, engine, app, args.runs, delays)
            browser.http.close()
            print("\n" + describe_machine().replace("# ", "# at the end: ", 1))
        finally:
            server.stop()
            engine.dispose()


if __name__ == "__main__":
    main()
