"""Real servers for tests: a free local port, README's production gunicorn options, and gunicorn
started on the test's database and stopped afterwards."""
from __future__ import annotations

import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def production_arguments() -> list[str]:
    """gunicorn's options from README's production command, without --bind and the app."""
    readme = (REPO / "README.md").read_text()
    line = next(line for line in readme.splitlines() if ".venv/bin/gunicorn " in line)
    words = shlex.split(line.split(".venv/bin/gunicorn ", 1)[1])
    bind = words.index("--bind")
    return [word for i, word in enumerate(words) if i not in (bind, bind + 1) and word != "wsgi:app"]


@contextmanager
def running_gunicorn(arguments: list[str], env: dict[str, str], startup_seconds: float = 90) -> Iterator[str]:
    """Studio under gunicorn with `arguments` (bind and app added here); yields its base URL once
    /healthz answers (polled: a long limit costs nothing, and a loaded machine needed over 30 s), and
    stops it at the end (the test fails if it never starts)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", *arguments, "--bind", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.time() + startup_seconds
    while time.time() < deadline and process.poll() is None:  # a gunicorn that exited fails at once
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("gunicorn did not start: " + process.stderr.read().decode()[-2000:])
    try:
        yield base_url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
