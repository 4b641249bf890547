"""Validation time of a 1,000-file project (schema + sheriff; the gauntlet off), printed.

    .venv/bin/python -m bench.projects [--files 1000] [--database-url URL]

Builds a throwaway SQLite database (or uses --database-url, migrated), a project of Python, JSON,
YAML, TOML and text files (a few broken, a few secrets), then times the upload's import and one
validation run executed inline by the job runner."""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "bench")


def project_files(count: int) -> dict[str, bytes]:
    files = {}
    for number in range(count):
        kind = number % 5
        folder = f"pkg{number % 20}"
        if kind == 0:
            body = "".join(f"def f{i}(x):\n    return x * {i}\n\n" for i in range(40))
            files[f"{folder}/mod{number}.py"] = body.encode()
        elif kind == 1:
            files[f"{folder}/data{number}.json"] = (
                '{"name": "item", "values": [' + ", ".join(str(i) for i in range(200)) + "]}").encode()
        elif kind == 2:
            files[f"{folder}/conf{number}.yaml"] = "".join(f"key{i}: value {i}\n" for i in range(60)).encode()
        elif kind == 3:
            files[f"{folder}/conf{number}.toml"] = "".join(f'key{i} = "value {i}"\n' for i in range(60)).encode()
        else:
            files[f"{folder}/notes{number}.txt"] = ("Lorem ipsum dolor sit amet. " * 80).encode()
    files["pkg0/secrets.py"] = b'AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"\n'
    files["pkg1/broken.yaml"] = b"a: [\n"
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from app.jobs import runner
    from app.projects import services
    from tests.factories import make_user

    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "JOBS_WORKER_THREAD": False,
                          "PROJECT_STORAGE": str(Path(folder) / "storage"),
                          "PASSWORD_HASH_PARAMS": {"time_cost": 1, "memory_cost": 8, "parallelism": 1}})
        with app.app_context():
            upgrade(directory=str(Path(__file__).resolve().parent.parent / "migrations"))
            user = make_user()
            project = services.create_project(user, "Bench project")
            files = project_files(args.files)
            size = sum(len(data) for data in files.values())
            started = time.perf_counter()
            services.import_files(user, project.id, files)
            imported = time.perf_counter() - started
            run = services.start_run(user, project.id)
            started = time.perf_counter()
            runner.run_pending()
            validated = time.perf_counter() - started
            _project, run = services.get_run_for(user, project.id, run.id)
            dialect = db.engine.dialect.name
            print(f"database: {dialect}; files: {len(files):,} ({size / 1e6:.1f} MB)")
            print(f"import (store blobs + rows): {imported:.2f} s")
            print(f"validation run (schema + sheriff): {validated:.2f} s wall, "
                  f"{run.summary.get('work_ms', 0) / 1000:.2f} s in validators; "
                  f"{run.errors_found} errors, {run.warnings_found} warnings; status {run.status}")
            for name, state in run.summary.get("validators", {}).items():
                print(f"  {name}: {state['status']}")
            db.engine.dispose()


if __name__ == "__main__":
    main()
