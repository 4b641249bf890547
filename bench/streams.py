"""Many concurrent answers against a real server: first words, completion, pages meanwhile, memory.

    python -m bench.streams --postgres --streams 200              # README's production command (gunicorn)
    python -m bench.streams --streams 50 --server flask           # `flask run` (SQLite by default)
    python -m bench.streams --postgres --soak 1000                # 1,000 streams dropped mid-answer

The server is started here, on 127.0.0.1, with the demo model writing one chunk every
--chunk-seconds (STUDIO_ECHO_DELAY) and the per-person limits raised for the run (a few bench people
send all the messages). Each stream does what a browser does: open /chat, POST the message, open the
conversation page, follow its SSE stream to `done`. Printed: first words after the POST minus the
provider's own first-token time (from model_requests), answers complete, a probe's `/chat` times
(twice a second) while the streams run, worker RSS before and after, and on PostgreSQL transactions
per second (pg_stat_database). The soak opens streams in waves, drops each after its first words
(the tab closed: the answer still completes), waits until all answers are written, and prints RSS
growth. Everything is bounded in count and time (--timeout)."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from bench.common import (
    CLIENT_REQUEST_ID,
    SSE_CONNECT,
    add_database_arguments,
    csrf_token_in,
    database_from_args,
    describe_machine,
    make_app,
    percentile,
    print_table,
    selected_model_id,
)

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "bench streams password"
# The demo model says the prompt back, three words a chunk: this one makes a ~20-chunk answer (~20 s at
# one chunk a second), so streams started over a 10 s ramp are all open at once (printed: peak open).
PROMPT = ("Tell me about streaming at scale: how two hundred people can watch their answers arrive at the "
          "same time on one small machine, what each of them costs the server, and where the time goes.")
STREAM_URL = re.compile(r"/stream/([0-9a-f-]{36})")


def readme_gunicorn_arguments() -> list[str]:
    """gunicorn's options from README's production command, without --bind and the app."""
    line = next(line for line in (REPO / "README.md").read_text().splitlines() if ".venv/bin/gunicorn " in line)
    words = shlex.split(line.split(".venv/bin/gunicorn ", 1)[1])
    bind = words.index("--bind")
    return [word for i, word in enumerate(words) if i not in (bind, bind + 1) and word != "wsgi:app"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(kind: str, url: str, chunk_seconds: float, worker_args: list[str] | None,
                 log_path: str | None = None):
    """The app on 127.0.0.1 (gunicorn as README says, or `flask run`): (process, base URL, command);
    its output goes to `log_path` (or nowhere)."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "STUDIO_ECHO_DELAY": str(chunk_seconds),
           "STUDIO_LIMIT_CONCURRENT_GENERATIONS": "100000", "STUDIO_RATELIMIT_ENABLED": "0",
           "STUDIO_JOBS_WORKER_THREAD": "0", "SECRET_KEY": "bench-streams-not-secret"}
    if kind == "gunicorn":
        command = [str(REPO / ".venv/bin/gunicorn"), *(worker_args or readme_gunicorn_arguments()),
                   "--bind", f"127.0.0.1:{port}", "wsgi:app"]
    else:
        command = [str(REPO / ".venv/bin/flask"), "--app", "wsgi", "run", "--port", str(port), "--with-threads"]
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - the server's, closed with it
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=log, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return process, base_url, command
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("the server did not start")


def stop_server(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def worker_pids(process: subprocess.Popen) -> list[int]:
    """gunicorn's workers, or the process itself for flask run."""
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    pids = [int(pid) for pid in children.read_text().split()] if children.exists() else []
    return pids or [process.pid]


def worker_cpu_seconds(process: subprocess.Popen) -> float:
    """CPU time (user + system) the workers have used so far."""
    total = 0
    for pid in worker_pids(process):
        with contextlib.suppress(FileNotFoundError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def worker_rss_mb(process: subprocess.Popen) -> list[float]:
    """RSS of the server's workers, in MB."""
    rss = []
    for pid in worker_pids(process):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            continue
        rss.append(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024)
    return rss


def make_people(url: str, count: int) -> list[str]:
    """`count` active accounts (emails) with PASSWORD."""
    from app.auth import services as auth_services
    from app.extensions import db

    app = make_app(url)
    emails = []
    with app.app_context():
        for number in range(count):
            email = f"streams-{uuid.uuid4().hex[:8]}-{number}@example.org"
            user = auth_services.create_user(email, f"Streams {number}", PASSWORD, role="user")
            user.is_active_account = True
            emails.append(email)
        db.session.commit()
    return emails


async def sign_in(base_url: str, email: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=base_url, timeout=120, follow_redirects=False,
                               limits=httpx.Limits(max_connections=2000, max_keepalive_connections=200))
    page = (await client.get("/login")).text
    response = await client.post("/login", data={"email": email, "password": PASSWORD,
                                                 "csrf_token": csrf_token_in(page)})
    if response.status_code != 303:
        raise SystemExit(f"sign-in failed: HTTP {response.status_code}")
    return client


async def one_stream(client: httpx.AsyncClient, model_id: str | None, *, drop_after_first: bool = False,
                     csrf_token: str | None = None) -> dict:
    """A browser's answer: /chat (unless `csrf_token` is given: the soak skips it), POST, the page,
    the SSE stream. Times in seconds from the POST."""
    if csrf_token:
        data = {"csrf_token": csrf_token, "content": PROMPT, "client_request_id": uuid.uuid4().hex}
    else:
        page = (await client.get("/chat")).text
        data = {"csrf_token": csrf_token_in(page), "content": PROMPT,
                "client_request_id": CLIENT_REQUEST_ID.search(page).group(1)}
    if model_id:
        data["model_id"] = model_id
    started = time.perf_counter()
    response = await client.post("/chat", data=data)
    if response.status_code != 303:
        return {"error": f"POST {response.status_code}"}
    posted = time.perf_counter() - started
    page = (await client.get(response.headers["location"])).text
    match = SSE_CONNECT.search(page)
    if match is None:
        return {"error": "no stream in the page"}
    url = html.unescape(match.group(1))
    result = {"message_id": STREAM_URL.search(url).group(1), "first": None, "done": None, "post": posted,
              "page": time.perf_counter() - started, "started_at": started}
    async with client.stream("GET", url, headers={"Accept": "text/event-stream"}) as stream:
        async for line in stream.aiter_lines():
            if line == "event: delta" and result["first"] is None:
                result["first"] = time.perf_counter() - started
                if drop_after_first:
                    return result
            elif line == "event: done":
                result["done"] = time.perf_counter() - started
                return result
    return result


async def probe(base_url: str, email: str, stop: asyncio.Event, times: list[float]) -> None:
    """GET /chat twice a second until told to stop."""
    client = await sign_in(base_url, email)
    while not stop.is_set():
        started = time.perf_counter()
        await client.get("/chat")
        times.append(time.perf_counter() - started)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)
    await client.aclose()


def provider_first_token_seconds(url: str, message_ids: list[str]) -> dict[str, float]:
    """Each answer's provider time to first token (model_requests.first_token_at - requested_at)."""
    from sqlalchemy import select

    from app.chat.models import ModelRequest
    from app.extensions import db

    app = make_app(url)
    with app.app_context():
        rows = db.session.execute(select(ModelRequest.message_id, ModelRequest.requested_at,
                                         ModelRequest.first_token_at)
                                  .where(ModelRequest.message_id.in_([uuid.UUID(m) for m in message_ids]))).all()
        return {str(m): (first - requested).total_seconds() for m, requested, first in rows if first}


def pg_transactions(url: str) -> int | None:
    if not url.startswith("postgresql"):
        return None
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as connection:
        value = connection.execute(text("SELECT xact_commit + xact_rollback FROM pg_stat_database "
                                        "WHERE datname = current_database()")).scalar()
    engine.dispose()
    return int(value)


async def delayed(seconds: float, coroutine):
    await asyncio.sleep(seconds)
    return await coroutine


async def run_streams(base_url: str, emails: list[str], streams: int, timeout: float,
                      ramp: float = 0.0, on_start=None) -> tuple[list, list]:
    """The streams and the probe's times; `on_start(probes, quiet)` is called once everyone is signed
    in (sign-ins hash passwords: not a stream's cost), with the probe's count so far: first when the
    quiet probes begin (quiet=True), then right before the streams start (quiet=False)."""
    clients = [await sign_in(base_url, email) for email in emails[1:]]
    model_id = selected_model_id((await clients[0].get("/chat")).text)
    stop, probe_times = asyncio.Event(), []
    probe_task = asyncio.create_task(probe(base_url, emails[0], stop, probe_times))
    if on_start is not None:
        on_start(len(probe_times), True)
    await asyncio.sleep(4)  # a few quiet probes first: what a probe costs the workers alone
    if on_start is not None:
        on_start(len(probe_times), False)
    # Started over `ramp` seconds (0: all at once), as people clicking would.
    tasks = [asyncio.create_task(delayed(ramp * i / streams, one_stream(clients[i % len(clients)], model_id)))
             for i in range(streams)]
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    stop.set()
    await probe_task
    for client in clients:
        await client.aclose()
    results = [task.result() if not task.cancelled() and task.exception() is None
               else {"error": repr(task.exception())} for task in done]
    return results + [{"error": "timed out"}] * len(pending), probe_times


async def soak(base_url: str, emails: list[str], total: int, wave: int) -> int:
    clients = [await sign_in(base_url, email) for email in emails[1:]]
    pages = [(await client.get("/chat")).text for client in clients]
    model_id, tokens = selected_model_id(pages[0]), [csrf_token_in(page) for page in pages]
    dropped = 0
    for start in range(0, total, wave):
        results = await asyncio.gather(*[one_stream(clients[i % len(clients)], model_id, drop_after_first=True,
                                                    csrf_token=tokens[i % len(clients)])
                                         for i in range(start, min(total, start + wave))], return_exceptions=True)
        dropped += sum(1 for r in results if isinstance(r, dict) and r.get("first") is not None)
    for client in clients:
        await client.aclose()
    return dropped


def peak_open(results: list[dict]) -> int:
    """The most streams open at one moment (from each POST to its `done`): how concurrent the run was."""
    edges = sorted([(r["started_at"], 1) for r in results if r.get("done") is not None]
                   + [(r["started_at"] + r["done"], -1) for r in results if r.get("done") is not None],
                   key=lambda edge: (edge[0], edge[1]))
    peak = open_now = 0
    for _, change in edges:
        open_now += change
        peak = max(peak, open_now)
    return peak


def ms(values: list[float], p: float) -> str:
    return f"{percentile(values, p) * 1000:.0f}" if values else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_database_arguments(parser)
    parser.add_argument("--server", choices=["gunicorn", "flask"], default="gunicorn")
    parser.add_argument("--worker-args", help="gunicorn options instead of README's (e.g. '--workers 2 "
                                              "--worker-class gthread --threads 32')")
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--people", type=int, default=40, help="bench accounts sharing the streams")
    parser.add_argument("--ramp", type=float, default=0.0, help="start the streams over this many seconds")
    parser.add_argument("--chunk-seconds", type=float, default=1.0)
    parser.add_argument("--timeout", type=float, default=120, help="seconds before unfinished streams count as lost")
    parser.add_argument("--soak", type=int, default=0, help="instead: this many streams dropped after first words")
    parser.add_argument("--soak-wave", type=int, default=100)
    parser.add_argument("--server-log", help="append the server's output (errors, worker restarts) to this file")
    args = parser.parse_args()
    with database_from_args(args, label="streams") as database:
        emails = make_people(database.url, args.people + 1)
        worker_args = shlex.split(args.worker_args) if args.worker_args else None
        process, base_url, command = start_server(args.server, database.url, args.chunk_seconds, worker_args,
                                                    args.server_log)
        try:
            print(f"# {describe_machine()}")
            print(f"# server: {' '.join(Path(c).name if i == 0 else c for i, c in enumerate(command))}; "
                  f"{database.label}; demo model at one chunk per {args.chunk_seconds} s")
            # Warm up: each worker imports and renders once.
            asyncio.run(run_streams(base_url, emails, 4, 60))
            time.sleep(1)
            rss_before = worker_rss_mb(process)
            if args.soak:
                started = time.perf_counter()
                dropped = asyncio.run(soak(base_url, emails, args.soak, args.soak_wave))
                elapsed = time.perf_counter() - started
                time.sleep(args.chunk_seconds * 25 + 5)  # the dropped (~20-chunk) answers finish in the background
                rss_after = worker_rss_mb(process)
                growth = (sum(rss_after) - sum(rss_before)) / sum(rss_before) * 100
                print_table(["streams dropped mid-answer", "time", "worker RSS before (MB)", "after (MB)", "growth"],
                            [[f"{dropped}/{args.soak}", f"{elapsed:.0f} s",
                              " + ".join(f"{r:.0f}" for r in rss_before), " + ".join(f"{r:.0f}" for r in rss_after),
                              f"{growth:+.1f} %"]], title="Soak")
                return
            start = {}

            def mark_start(probes: int, quiet: bool):
                if quiet:
                    start.update(quiet_probes=probes, quiet_cpu=worker_cpu_seconds(process))
                    return
                start.update(transactions=pg_transactions(database.url), clock=time.perf_counter(),
                             cpu=worker_cpu_seconds(process), probes=probes,
                             probe_cpu=(worker_cpu_seconds(process) - start["quiet_cpu"])
                             / max(1, probes - start["quiet_probes"]))

            client_cpu = time.process_time()
            results, probe_times = asyncio.run(run_streams(base_url, emails, args.streams, args.timeout, args.ramp,
                                                           on_start=mark_start))
            client_cpu = time.process_time() - client_cpu  # sign-ins included: the clients' side, not hashing
            transactions_before = start["transactions"]
            seconds = time.perf_counter() - start["clock"]
            transactions_after = pg_transactions(database.url)
            rss_after = worker_rss_mb(process)
            # The workers' CPU over the run, less the probe's pages (each costing what it cost alone).
            probe_cpu = start["probe_cpu"] * (len(probe_times) - start["probes"])
            cpu = worker_cpu_seconds(process) - start["cpu"] - probe_cpu
            probe_times = probe_times[start["probes"]:]  # those while the streams ran
            load = os.getloadavg()
            ok = [r for r in results if r.get("done") is not None]
            provider = provider_first_token_seconds(database.url, [r["message_id"] for r in results
                                                                   if r.get("message_id")])
            first_words = [r["first"] - provider.get(r["message_id"], 0.0) for r in ok if r.get("first") is not None]
            errors = sorted({r["error"] for r in results if "error" in r})
            tps = (f"{(transactions_after - transactions_before) / seconds:.0f}"
                   if transactions_before is not None else "n/a")
            posts = [r["post"] for r in ok]
            pages = [r["page"] - r["post"] for r in ok]
            print_table(
                ["streams", "POST p50 / p95 (ms)", "page after POST p50 / p95 (ms)",
                 "first words − provider TTFT p50 / p95 / p99 (ms)", "provider TTFT p50 (s)",
                 "complete", "peak open at once", "answer p50 (s)", "`/chat` p50 / p95 (ms), n",
                 "worker RSS before → after (MB)", "DB transactions/s",
                 "worker CPU per stream, probe's pages excluded (ms)"],
                [[f"{args.streams} over {args.ramp:g} s", f"{ms(posts, 50)} / {ms(posts, 95)}",
                  f"{ms(pages, 50)} / {ms(pages, 95)}",
                  f"{ms(first_words, 50)} / {ms(first_words, 95)} / {ms(first_words, 99)}",
                  f"{percentile(list(provider.values()), 50):.2f}" if provider else "-",
                  f"{len(ok)}/{args.streams}", str(peak_open(ok)),
                  f"{percentile([r['done'] for r in ok], 50):.1f}" if ok else "-",
                  f"{ms(probe_times, 50)} / {ms(probe_times, 95)}, {len(probe_times)}",
                  f"{' + '.join(f'{r:.0f}' for r in rss_before)} → {' + '.join(f'{r:.0f}' for r in rss_after)}",
                  tps, f"{cpu / max(1, args.streams) * 1000:.0f}"]], title=f"{args.streams} concurrent streams")
            per_stream = client_cpu / max(1, args.streams) * 1000
            print(f"# load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; this client (httpx, on the "
                  f"same 2 cores) used {client_cpu:.1f} s of CPU, {per_stream:.0f} ms a stream")
            if errors:
                print("# errors: " + "; ".join(errors[:5]))
        finally:
            stop_server(process)


if __name__ == "__main__":
    sys.exit(main())
