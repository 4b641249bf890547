"""Hostile Markdown: what a 32,000-character pathological message costs end to end, and whether
another person's send gets through while someone imports answers full of it. Prints; asserts nothing.

    python -m bench.hostile [--postgres | --database-url URL] [--runs 5]
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import threading
import time

from bench.common import add_database_arguments, database_from_args, describe_machine, engine_of, make_app
from bench.streaming import Browser, LiveServer, set_echo_delay, wait_idle

SIZE = 32_000
# Inputs markdown-it-py is slow on (tens of microseconds per "![" or "["), and cheap ones for contrast.
PATHOLOGICAL = {
    "![ repeated": "![" * (SIZE // 2),
    "[ repeated": "[" * SIZE,
    "[![ repeated": "[![" * (SIZE // 3),
    "[a]( repeated": "[a](" * (SIZE // 4),
    "*a repeated": "*a" * (SIZE // 2),
    "nested emphasis": "*" * (SIZE // 2) + "a" + "*" * (SIZE // 2),
    "a<newline> repeated": "a\n" * (SIZE // 2),
    "table rows": "| a | b |\n|---|---|\n" + "| x |\n" * (SIZE // 6),
    "> nested": "> " * (SIZE // 2),
    "- nested": "- " * (SIZE // 2),
    "backticks": "`" * SIZE,
    "reference flood": "".join(f"[r{n}]: https://example.com/{n}\n" for n in range(1_200)) + "[x][r1]" * 500,
}
# Same size and the same shape for the demo provider (one long word: the same number of chunks).
BENIGN_WORD = "ab" * (SIZE // 2)
HOSTILE_WORD = PATHOLOGICAL["![ repeated"]


def bench_rendering() -> None:
    from app.core import markdown

    budget = getattr(markdown, "RENDER_BUDGET_SECONDS", None)  # absent before the budget (to compare)
    print(f"\n## Rendering one {SIZE:,}-character message (ms; markdown-it alone vs render_markdown_safe, "
          f"budget {f'{budget * 1000:.0f} ms' if budget else 'none'})")
    print(f"{'input':<22} {'unbudgeted':>11} {'budgeted':>9}")
    for name, text in PATHOLOGICAL.items():
        started = time.perf_counter()
        markdown._MARKDOWN.render(text)
        raw = time.perf_counter() - started
        started = time.perf_counter()
        markdown.render_markdown_safe(text)
        safe = time.perf_counter() - started
        print(f"{name:<22} {raw * 1000:11.0f} {safe * 1000:9.0f}")


def make_people(app, count: int):
    from sqlalchemy import select

    from app.ai_models.models import AIModel
    from app.extensions import db
    from tests.factories import PASSWORD, make_user

    with app.app_context():
        emails = [make_user().email for _ in range(count)]
        model_id = db.session.scalar(select(AIModel.id).where(AIModel.provider == "echo").order_by(AIModel.id).limit(1))
    return emails, PASSWORD, str(model_id)


def bench_end_to_end(browser: Browser, engine, model_id: str, runs: int) -> None:
    print(f"\n## New chat with a {SIZE:,}-character message, POST until the answer is finished "
          "(echo demo model, no delay between chunks; seconds)")
    times: dict[str, list[float]] = {"benign (one long word)": [], "pathological (![ repeated)": []}
    for _ in range(runs):
        for label, text in zip(times, (BENIGN_WORD, HOSTILE_WORD), strict=True):
            wait_idle(engine)
            times[label].append(browser.new_chat(text, model_id).done)
    for label, values in times.items():
        print(f"{label:<28} median {statistics.median(values):6.3f}  max {max(values):6.3f}  "
              f"({', '.join(f'{v:.3f}' for v in values)})")
    extra = statistics.median(times["pathological (![ repeated)"]) - statistics.median(times["benign (one long word)"])
    print(f"pathological costs {extra:+.3f} s more (median; goal: at most 0.5 s)")


def hostile_export(answers: int) -> bytes:
    conversations = [{"title": f"Hostile {n}", "created_at": "2025-03-01T18:00:00+00:00",
                      "messages": [{"role": "user", "content": "Draw me something"},
                                   {"role": "assistant", "content": HOSTILE_WORD}]} for n in range(answers)]
    return json.dumps({"format": "studio-export", "version": 1, "conversations": conversations}).encode()


def bench_import_and_send(importer: Browser, sender: Browser, engine, model_id: str) -> None:
    data = hostile_export(8)
    print(f"\n## One person imports 8 pathological answers ({len(data) / 1024:.0f} KB) while another sends")
    result: dict = {}

    def upload():
        page = importer.http.get("/chat/import").text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        started = time.perf_counter()
        response = importer.http.post("/chat/import", data={"csrf_token": token},
                                      files={"file": ("hostile.json", data, "application/json")}, timeout=120)
        result["import"] = (response.status_code, time.perf_counter() - started)

    wait_idle(engine)
    thread = threading.Thread(target=upload)
    thread.start()
    time.sleep(0.3)  # let the import get going: parsing, then rendering (and, before the fix, the write lock)
    sends = []
    while thread.is_alive() and len(sends) < 3 or not sends:
        page = sender.http.get("/chat").text
        token = re.search(r'name="client_request_id" type="hidden" value="([0-9a-f]+)"', page).group(1)
        started = time.perf_counter()
        response = sender.http.post("/chat", data={"csrf_token": sender.csrf, "content": "Hello during an import",
                                                   "client_request_id": token, "model_id": model_id})
        sends.append((response.status_code, time.perf_counter() - started))
        wait_idle(engine)
    thread.join()
    status, seconds = result["import"]
    print(f"import: HTTP {status} in {seconds:.2f} s")
    for number, (status, seconds) in enumerate(sends, 1):
        print(f"send {number} during the import: HTTP {status} in {seconds:.3f} s (goal: a success within 3 s)")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__.split("\n\n")[0])
    add_database_arguments(parser)
    parser.add_argument("--runs", type=int, default=5, help="new chats per input (default %(default)s)")
    args = parser.parse_args()
    bench_rendering()
    with database_from_args(args, "hostile") as database:
        app = make_app(database.url)
        set_echo_delay(app, 0)
        engine = engine_of(app)
        emails, password, model_id = make_people(app, 3)
        server = LiveServer(app)
        try:
            print(describe_machine(engine))
            print(f"# {database.label}; app at {server.url} (werkzeug, threaded)")
            browsers = [Browser(server.url, email, password) for email in emails]
            bench_end_to_end(browsers[0], engine, model_id, args.runs)
            bench_import_and_send(browsers[1], browsers[2], engine, model_id)
            for browser in browsers:
                browser.http.close()
        finally:
            server.stop()
            engine.dispose()


if __name__ == "__main__":
    main()
