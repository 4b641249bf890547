"""One flow on PostgreSQL under gunicorn, as Studio runs in production: a person signs up, sends a
message and reads the streamed answer. (The other browser tests run on SQLite only.)"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.postgres(only=True)]
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gunicorn_url(database_url):
    """Studio under gunicorn (two gthread workers, as the README runs it) on the test's database."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", "2", "--worker-class", "gthread", "--threads", "8",
         "--bind", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=REPO, env={**os.environ, "DATABASE_URL": database_url}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("gunicorn did not start: " + process.stderr.read().decode()[-2000:])
    yield base_url
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def test_sign_up_send_a_message_and_read_the_answer(page, gunicorn_url):
    page.goto(f"{gunicorn_url}/register")
    page.get_by_label("E-mail").fill("first@example.org")
    page.get_by_label("Display name").fill("First Person")
    page.get_by_label("Password", exact=True).fill("a long password")
    page.get_by_label("Repeat password").fill("a long password")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Welcome to Studio, First Person.")).to_be_visible()

    page.goto(f"{gunicorn_url}/chat")
    page.get_by_label("Message", exact=True).fill("Hello from PostgreSQL")
    page.get_by_role("button", name="Send").click()
    expect(page).to_have_url(re.compile(r".*/chat/[0-9a-f-]{36}$"))
    answer = page.locator(".message-assistant.is-complete").last
    expect(answer.get_by_text("You said: Hello from PostgreSQL")).to_be_visible(timeout=20000)
    page.reload()  # stored, not only streamed
    expect(page.locator(".message-assistant.is-complete").last).to_contain_text("You said: Hello from PostgreSQL")
