"""Time the main pages with the Flask test client and count their SQL queries.

    python -m bench.pages [--postgres | --database-url URL [--skip-seed]] [--requests 50] [seed flags]

Seeds the database (bench.seed's data; a --database-url that already holds it is used as is), signs
in through the real /login form, then requests each page N times and prints p50 / p95 / max of the
time spent in the app (the test client: no network, no browser) and the SQL statements per request
(a `before_cursor_execute` listener on db.engine). Then it builds a tiny data set in a second
database and prints each page's query count there beside the big one: it must not grow with data."""
from __future__ import annotations

import argparse
import html
import re
import time
from collections import Counter
from dataclasses import dataclass, field

from bench.common import (
    QueryCounter,
    add_database_arguments,
    csrf_token_in,
    database_from_args,
    describe_machine,
    engine_of,
    explain,
    fmt_ms,
    make_app,
    print_table,
    shorten_sql,
    summary_ms,
)
from bench.seed import (
    SeedResult,
    add_seed_arguments,
    analyze,
    find_seed,
    seed,
    seed_from_args,
)

SIDEBAR_MORE = re.compile(r'<li class="sidebar-more" hx-get="([^"]+)"')
LOAD_EARLIER = re.compile(r'<div id="load-earlier".*?hx-get="([^"]+)"', re.DOTALL)
HTMX = {"HX-Request": "true"}


@dataclass
class Page:
    label: str
    who: str  # which signed-in client: heavy | admin
    path: str
    headers: dict = field(default_factory=dict)


@dataclass
class Measured:
    page: Page
    seconds: list[float]
    queries: list[int]
    statements: list[str]  # of the last request
    parameters: list
    status: int
    size: int

    @property
    def query_label(self) -> str:
        low, high = min(self.queries), max(self.queries)
        return str(low) if low == high else f"{Counter(self.queries).most_common(1)[0][0]} ({low}–{high})"

    @property
    def typical_queries(self) -> int:
        return Counter(self.queries).most_common(1)[0][0]


def sign_in(app, email: str, password: str):
    """A test client signed in through the real form (CSRF token read from the page)."""
    client = app.test_client()
    token = csrf_token_in(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    if response.status_code != 303:
        raise SystemExit(f"sign-in as {email} failed: {response.status_code}\n{response.get_data(as_text=True)[:400]}")
    return client


def _follow_sidebar(client, depths: list[int]) -> dict[int, str]:
    """The URLs of the sidebar pages at these depths (1 = the page after /chat's first one, what
    infinite scroll loads first), following the real cursors."""
    urls = {}
    text = client.get("/chat").get_data(as_text=True)
    for depth in range(1, max(depths) + 1):
        match = SIDEBAR_MORE.search(text)
        if not match:
            break
        url = html.unescape(match.group(1))
        if depth in depths:
            urls[depth] = url
        text = client.get(url, headers=HTMX).get_data(as_text=True)
    return urls


def build_pages(clients: dict, seeded: SeedResult, sidebar_depth: int) -> tuple[list[Page], str]:
    heavy = clients["heavy"]
    sidebar_urls = _follow_sidebar(heavy, sorted({1, sidebar_depth}))
    long_path = f"/chat/{seeded.long_conversation_id}"
    earlier = LOAD_EARLIER.search(heavy.get(long_path).get_data(as_text=True))
    pages = [
        Page("/chat (sidebar, first page)", "heavy", "/chat"),
        Page("/chat/sidebar (htmx, first page)", "heavy", "/chat/sidebar", HTMX),
    ]
    for depth, url in sorted(sidebar_urls.items()):
        which = "second page" if depth == 1 else f"page {depth + 1}"
        pages.append(Page(f"/chat/sidebar?cursor= ({which})", "heavy", url, HTMX))
    pages.append(Page("/chat/<id> (long conversation)", "heavy", long_path))
    if earlier:
        pages.append(Page("/chat/<id>?before= (load earlier, htmx)", "heavy", html.unescape(earlier.group(1)),
                          {**HTMX, "HX-Target": "load-earlier"}))
    pages += [
        Page("/account", "heavy", "/account"),
        Page("/admin/users (admin)", "admin", "/admin/users"),
        Page("/admin/navigation (admin)", "admin", "/admin/navigation"),
    ]
    return pages, ", ".join(f"page {depth + 1}" for depth in sorted(sidebar_urls)) or "none"


def measure(client, page: Page, counter: QueryCounter, requests: int, warmup: int = 3) -> Measured:
    for _ in range(warmup):  # templates compiled, caches and pool warm
        client.get(page.path, headers=page.headers)
    seconds, queries = [], []
    last: list[str] = []
    last_parameters: list = []
    status, size = 0, 0
    for _ in range(requests):
        with counter.counting() as statements:
            started = time.perf_counter()
            response = client.get(page.path, headers=page.headers)
            body = response.get_data()
            seconds.append(time.perf_counter() - started)
        queries.append(len(statements))
        last, last_parameters = list(statements), list(counter.parameters)
        status, size = response.status_code, len(body)
        if status != 200:
            raise SystemExit(f"{page.label}: HTTP {status} for {page.path}")
    return Measured(page, seconds, queries, last, last_parameters, status, size)


def run_suite(
    app, seeded: SeedResult, requests: int, sidebar_depth: int, warmup: int = 3,
) -> tuple[list[Measured], str]:
    engine = engine_of(app)
    clients = {"heavy": sign_in(app, seeded.heavy_email, seeded.password),
               "admin": sign_in(app, seeded.admin_email, seeded.password)}
    pages, sidebar_note = build_pages(clients, seeded, sidebar_depth)
    counter = QueryCounter(engine)
    try:
        results = [measure(clients[page.who], page, counter, requests, warmup) for page in pages]
    finally:
        counter.close()
    return results, sidebar_note


def _sidebar_depth(args, conversations: int) -> int:
    if args.sidebar_page:
        return max(1, args.sidebar_page - 1)
    return max(1, conversations // 30 // 2)  # the middle of the list


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pages", description=__doc__.split("\n\n")[0])
    add_database_arguments(parser)
    add_seed_arguments(parser)
    parser.add_argument("--requests", type=int, default=50, help="timed requests per page (default %(default)s)")
    parser.add_argument("--skip-seed", action="store_true", help="the database is already seeded by bench.seed")
    parser.add_argument("--sidebar-page", type=int, default=0,
                        help="which sidebar page to time (default: the middle of the heavy user's list)")
    parser.add_argument("--no-small", action="store_true", help="skip the small-data query-count comparison")
    parser.add_argument("--show-queries", action="store_true", help="print every page's SQL statements")
    parser.add_argument("--explain", action="store_true", help="… and the query plan of each SELECT")
    args = parser.parse_args()

    with database_from_args(args, "pages") as database:
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
        from sqlalchemy import func, select

        from app.chat.models import Conversation, Message

        with engine.connect() as conn:
            heavy_conversations = conn.scalar(select(func.count()).select_from(Conversation)
                                              .where(Conversation.user_id == seeded.heavy_user_id))
            long_messages = conn.scalar(select(func.count()).select_from(Message)
                                        .where(Message.conversation_id == seeded.long_conversation_id))
            total_messages = conn.scalar(select(func.count()).select_from(Message))
        print(describe_machine(engine))
        print(f"# {database.label}: heavy user has {heavy_conversations:,} conversations; long conversation "
              f"{long_messages:,} messages; {total_messages:,} messages in all")

        results, _sidebar_note = run_suite(app, seeded, args.requests, _sidebar_depth(args, heavy_conversations))
        print_table(
            ["page", "p50 ms", "p95 ms", "max ms", "queries/request", "KB"],
            [[r.page.label, fmt_ms(s["p50"]), fmt_ms(s["p95"]), fmt_ms(s["max"]), r.query_label, f"{r.size / 1024:.0f}"]
             for r in results for s in [summary_ms(r.seconds)]],
            title=f"{database.label}, {args.requests} requests per page (test client, server time)")
        if args.show_queries or args.explain:
            for r in results:
                print(f"\n## {r.page.label}: {len(r.statements)} statements")
                for statement, parameters in zip(r.statements, r.parameters, strict=True):
                    print("  - " + shorten_sql(statement, 300))
                    if args.explain and statement.lstrip().upper().startswith("SELECT"):
                        for line in explain(engine, statement, parameters):
                            print("      " + line)
        engine.dispose()
        print("\n" + describe_machine().replace("# ", "# at the end: ", 1))

        if args.no_small:
            return
        try:
            small_db = database.sibling("small")
        except Exception as error:  # noqa: BLE001 - e.g. no CREATE DATABASE right on a given server
            print(f"\n# no second database for the small-data comparison ({error}): skipped")
            return
        small_app = make_app(small_db.url)
        small_engine = engine_of(small_app)
        small_seed = seed(small_engine, users=3, conversations_per_user=3, messages_per_conversation=4,
                          heavy_user_conversations=40, long_conversation_messages=60, quiet=True)
        analyze(small_engine)
        small_results, small_note = run_suite(small_app, small_seed, 3, 1, warmup=1)
        small_engine.dispose()
        by_kind = {_kind(r.page.label): r for r in small_results}
        rows, grew = [], []
        for r in results:
            small = by_kind.get(_kind(r.page.label))
            same = small is not None and small.typical_queries == r.typical_queries
            rows.append([r.page.label, small.query_label if small else "-", r.query_label, "yes" if same else "NO"])
            if small is not None and not same:
                grew.append((r, small))
        print_table(["page", "queries, small data", "queries, big data", "constant"], rows,
                    title=f"Queries per request: small data (heavy user 40 conversations, long conversation 60 "
                          f"messages, 5 users; sidebar {small_note}) vs the data above")
        for big, small in grew:
            print(f"\n## {big.page.label}: {small.typical_queries} → {big.typical_queries} statements")
            for statement in big.statements:
                print("  - " + shorten_sql(statement, 300))


def _kind(label: str) -> str:
    """A page's label without the sidebar page number, to pair small and big runs."""
    return re.sub(r"\((page \d+|second page)\)", "(a later page)", label)


if __name__ == "__main__":
    main()
