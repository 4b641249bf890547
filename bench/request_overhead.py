"""What a signed-in request costs before and around its view, in one process (no network, no load).

    python -m bench.request_overhead [--postgres] [--requests 300]

Three test-only routes: a signed-in view that does nothing (the session, the user and the before-request
hooks), the same as an htmx fragment request, and the page shell (base.html: the navigation). Plus
the same trivial request when the session's last_seen_at is due for its touch. Printed per case, as
medians: SQL statements, round trips (statements plus BEGIN, COMMIT, ROLLBACK and the pool's checkout
ping) and the process's CPU in ms."""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from datetime import timedelta

from bench.common import (
    add_database_arguments,
    csrf_token_in,
    database_from_args,
    describe_machine,
    make_app,
    print_table,
)
from bench.stream_cost import RoundTrips

PASSWORD = "bench request overhead password"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_database_arguments(parser)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    with database_from_args(args, label="request-overhead") as database:
        app = make_app(database.url, RATELIMIT_ENABLED=False, JOBS_WORKER_THREAD=False)
        from flask import render_template_string
        from sqlalchemy import update

        from app.auth import services as auth_services
        from app.auth.models import UserSession
        from app.extensions import db
        from app.models.base import utcnow
        from app.security.roles import login_required

        app.add_url_rule("/_bench/signed-in", "bench_signed_in", login_required(lambda: "ok"))
        app.add_url_rule("/_bench/shell", "bench_shell",
                         login_required(lambda: render_template_string('{% extends "base.html" %}')))
        email = f"overhead-{uuid.uuid4().hex[:8]}@example.org"
        with app.app_context():
            user = auth_services.create_user(email, "Overhead", PASSWORD, role="user")
            db.session.commit()
            user_id, engine = user.id, db.engine
            print(describe_machine(engine))
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        if client.post("/login", data={"email": email, "password": PASSWORD,
                                       "csrf_token": csrf_token_in(page)}).status_code != 303:
            raise SystemExit("sign-in failed")

        def make_touch_due():
            with app.app_context():
                db.session.execute(update(UserSession).where(UserSession.user_id == user_id).values(
                    last_seen_at=utcnow() - auth_services.LAST_SEEN_RESOLUTION - timedelta(seconds=1)))
                db.session.commit()

        cases = [
            ("signed-in GET, trivial view", "/_bench/signed-in", {}, None),
            ("signed-in htmx fragment", "/_bench/signed-in", {"HX-Request": "true"}, None),
            ("signed-in page shell (navigation)", "/_bench/shell", {}, None),
            ("trivial view, last_seen_at touch due", "/_bench/signed-in", {}, make_touch_due),
        ]
        trips = RoundTrips(engine)
        rows = []
        for name, path, headers, before in cases:
            for _ in range(20):  # warm: compiled SQL, templates, the navigation's copy
                client.get(path, headers=headers)
            measured = []
            for _ in range(args.requests if before is None else max(20, args.requests // 10)):
                if before is not None:
                    before()
                trips.take()
                cpu = time.process_time()
                if client.get(path, headers=headers).status_code != 200:
                    raise SystemExit(f"{path} did not answer 200")
                statements, round_trips = trips.take()
                measured.append((len(statements), round_trips, (time.process_time() - cpu) * 1000))
            rows.append([name, f"{statistics.median(m[0] for m in measured):.0f}",
                         f"{statistics.median(m[1] for m in measured):.0f}",
                         f"{statistics.median(m[2] for m in measured):.2f}"])
        print_table(["request", "SQL statements", "round trips", "CPU ms"], rows,
                    title=f"Signed-in request overhead, {database.label}, medians")


if __name__ == "__main__":
    sys.exit(main())
