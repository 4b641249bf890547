"""Under gunicorn with two worker processes, an answer generated in one worker streams from the other:
woken by PostgreSQL NOTIFY, or with notifications off by the slow fallback poll alone. The server runs
README's production command."""
from __future__ import annotations

import html
import os
import re
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from app.chat.models import Message
from app.extensions import db
from tests.chat.helpers import wait_for_answer
from tests.factories import make_user
from tests.helpers.servers import production_arguments, running_gunicorn
from tests.sse_client import read_events, signed_in_http_client

pytestmark = pytest.mark.postgres  # two processes share the database



def fallback_poll_seconds(mode: str, database_url: str) -> str:
    """With notifications on PostgreSQL the fallback poll is too slow to finish any test: NOTIFY does
    it. SQLite wakes followers in its own process only, so another worker's stream relies on the poll."""
    if mode == "notify":
        return "2" if database_url.startswith("sqlite") else "120"
    return "0.3"


@pytest.fixture(params=["notify", "fallback poll"])
def gunicorn_server(request, app, database_url, tmp_path):
    """Studio under gunicorn as README's production command runs it (two workers), with stream
    notifications on or off; the access log names the worker of each request."""
    access_log = tmp_path / "access.log"
    env = {**os.environ, "DATABASE_URL": database_url, "STUDIO_ECHO_SLOW_DELAY": "0.08",
           "STUDIO_STREAM_NOTIFY": "1" if request.param == "notify" else "0",
           "STUDIO_STREAM_FALLBACK_POLL_SECONDS": fallback_poll_seconds(request.param, database_url)}
    logging = ["--access-logfile", str(access_log), "--access-logformat", "%(p)s %(m)s %(U)s %(s)s"]
    # /healthz is polled, so a quick start is not slowed; the long limit keeps a busy machine (20 s was
    # missed under load) from failing the test.
    with running_gunicorn([*production_arguments(), *logging], env, startup_seconds=90) as base_url:
        yield base_url, access_log


def served_by(access_log: Path, method: str, path_part: str) -> list[str]:
    """The worker pids that served matching requests (the log is written when a response ends)."""
    lines = access_log.read_text().splitlines() if access_log.exists() else []
    return [line.split()[0] for line in lines if line.split()[1] == method and path_part in line.split()[2]]


def start_slow_answer(base_url: str, user, content: str) -> tuple[httpx.Client, str]:
    """Open /chat, send a message as the browser does, open its page: the client and the answer's stream URL."""
    client = signed_in_http_client(base_url, user)
    page = client.get("/chat").text
    token = re.search(r'name="client_request_id" type="hidden" value="([0-9a-f]+)"', page).group(1)
    started = client.post("/chat", data={"content": f"[[echo:slow]] {content}", "client_request_id": token})
    page = client.get(started.headers["location"]).text
    stream_url = html.unescape(re.search(r'sse-connect="([^"]+)"', page).group(1))
    # From the first character: the page may already show the start of the answer (its generator
    # started before the page was read), and the test compares each stream with the whole answer.
    return client, re.sub(r"after=[0-9.]+", "after=0.0", stream_url)


def delta_text(events) -> str:
    return html.unescape("".join(e.data for e in events if e.event == "delta"))


def test_a_stream_joins_an_answer_generated_by_the_other_worker(app, gunicorn_server):
    base_url, access_log = gunicorn_server
    user = make_user()
    for attempt in range(4):
        client, stream_url = start_slow_answer(base_url, user, f"attempt {attempt}")
        results: list[str] = []

        def follow(client=client, stream_url=stream_url, results=results):
            # Each browser tab has its own connection; the kernel spreads them over the workers.
            with (httpx.Client(base_url=base_url, cookies=client.cookies, timeout=30) as tab,
                  tab.stream("GET", stream_url) as response):
                events = read_events(response)
            assert events[-1].event == "done"
            results.append(delta_text(events))

        tabs = [threading.Thread(target=follow) for _ in range(6)]
        for tab in tabs:
            tab.start()
        for tab in tabs:
            tab.join(timeout=40)
        answer_id = db.session.scalar(
            select(Message.id).where(Message.role == "assistant").order_by(Message.id.desc()).limit(1))
        answer = wait_for_answer(answer_id, timeout=30)
        assert answer.status == "complete"
        assert len(results) == 6 and all(text == answer.content for text in results)
        time.sleep(0.3)  # let the access log catch up
        generator_pid = served_by(access_log, "POST", "/chat")[-1]
        stream_pids = served_by(access_log, "GET", f"/stream/{answer_id}")
        if any(pid != generator_pid for pid in stream_pids):
            return  # a stream served by the worker that did not generate got every word
    pytest.fail("every stream landed on the generating worker four times in a row")


def test_a_reconnect_with_last_event_id_resumes_exactly(app, gunicorn_server):
    base_url, _ = gunicorn_server
    client, stream_url = start_slow_answer(base_url, make_user(), "a reconnect mid-answer " * 4)
    with (httpx.Client(base_url=base_url, cookies=client.cookies, timeout=30) as tab,
          tab.stream("GET", stream_url) as response):
        first = read_events(response, limit=4)
    # The browser resumes from the last event that carried an id: what came after it is sent again.
    last_with_id = max(i for i, event in enumerate(first) if event.id is not None)
    seen = first[:last_with_id + 1]
    with (httpx.Client(base_url=base_url, cookies=client.cookies, timeout=30) as tab,
          tab.stream("GET", stream_url, headers={"Last-Event-ID": seen[-1].id}) as response):
        rest = read_events(response)
    assert rest[-1].event == "done"
    answer_id = db.session.scalar(
        select(Message.id).where(Message.role == "assistant").order_by(Message.id.desc()).limit(1))
    answer = wait_for_answer(answer_id, timeout=30)
    assert answer.status == "complete"
    assert delta_text(seen) + delta_text(rest) == answer.content
