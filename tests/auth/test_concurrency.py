"""Sign-in and sign-up hold their limits when many requests arrive at once, over real HTTP."""
from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import argon2
import httpx
import pytest
from sqlalchemy import func, select

from app.auth.models import AuthEvent, User
from app.extensions import db
from tests.factories import make_user

REAL_HASH_SECONDS = 0.2  # what one production argon2 hash costs, roughly; the tests' cheap one is instant


class CountingHasher:
    """Wraps argon2's hash and verify: counts calls and the most running at once, and makes each
    take as long as a production hash so that requests really overlap."""

    def __init__(self, monkeypatch):
        self.calls = self.running = self.most_running = 0
        self._lock = threading.Lock()
        for name in ("hash", "verify"):
            original = getattr(argon2.PasswordHasher, name)
            monkeypatch.setattr(argon2.PasswordHasher, name, self._counted(original))

    def _counted(self, original):
        def counted(hasher, *args, **kwargs):
            with self._lock:
                self.calls += 1
                self.running += 1
                self.most_running = max(self.most_running, self.running)
            try:
                time.sleep(REAL_HASH_SECONDS)
                return original(hasher, *args, **kwargs)
            finally:
                with self._lock:
                    self.running -= 1

        return counted


class Browser:
    """One visitor over HTTP with its own cookies and CSRF token."""

    def __init__(self, base_url: str, page: str):
        self.http = httpx.Client(base_url=base_url, follow_redirects=False, timeout=120)
        html = self.http.get(page).text
        self.csrf_token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)

    def post(self, path: str, data: dict) -> httpx.Response:
        try:
            return self.http.post(path, data={**data, "csrf_token": self.csrf_token})
        finally:
            self.http.close()


def all_at_once(browsers, send):
    """Send one request per browser, released together; returns the responses."""
    start = threading.Barrier(len(browsers))

    def go(browser):
        start.wait()
        return send(browser)

    with ThreadPoolExecutor(len(browsers)) as pool:
        return list(pool.map(go, browsers))


@pytest.mark.postgres
def test_sixteen_simultaneous_guesses_check_at_most_the_limit_of_passwords(app, live_server, monkeypatch):
    victim = make_user()
    limit = app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
    browsers = [Browser(live_server, "/login") for _ in range(16)]
    hasher = CountingHasher(monkeypatch)

    email = victim.email
    answers = all_at_once(browsers, lambda b: b.post("/login", {"email": email, "password": "a guess"}))

    assert all(a.status_code in (200, 429) for a in answers)  # nobody got in, nothing broke
    told_wrong = [a for a in answers if "Email or password is incorrect." in a.text]
    assert len(told_wrong) <= limit
    assert hasher.calls <= limit
    outcomes = dict(db.session.execute(
        select(AuthEvent.failure_reason, func.count()).where(AuthEvent.event_type == "login")
        .group_by(AuthEvent.failure_reason)).all())
    assert outcomes.get("bad_password", 0) <= limit
    assert sum(outcomes.values()) == 16  # every attempt is recorded, none left pending
    assert "pending" not in outcomes


@pytest.mark.postgres
def test_many_people_signing_in_at_once_run_only_a_few_password_hashes_at_a_time(app, live_server, monkeypatch):
    people = [make_user() for _ in range(10)]
    browsers = [Browser(live_server, "/login") for _ in people]
    hasher = CountingHasher(monkeypatch)

    emails = [person.email for person in people]
    answers = all_at_once(list(zip(browsers, emails, strict=True)),
                          lambda pair: pair[0].post("/login", {"email": pair[1], "password": "a guess"}))

    assert all("Email or password is incorrect." in a.text for a in answers)
    assert hasher.calls == len(people)
    assert hasher.most_running <= app.config["MAX_CONCURRENT_HASHES"]  # each hash holds 64 MiB


@pytest.mark.postgres
def test_six_simultaneous_first_sign_ups_make_exactly_one_admin(app, live_server, monkeypatch):
    app.config["LIMIT_REGISTRATIONS_PER_HOUR"] = 1000  # all six come from 127.0.0.1
    browsers = [Browser(live_server, "/register") for _ in range(6)]
    CountingHasher(monkeypatch)

    answers = all_at_once(list(enumerate(browsers)), lambda pair: pair[1].post("/register", {
        "email": f"founder{pair[0]}@example.org", "display_name": f"Founder {pair[0]}",
        "password": "long enough pw", "confirm": "long enough pw"}))

    assert [a.status_code for a in answers] == [303] * 6
    roles = sorted(db.session.scalars(select(User.role)))
    assert roles == ["admin"] + ["user"] * 5
