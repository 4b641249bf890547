"""Projects: files stored under the test's tmp folder; the worker thread is off, so tests run the
queued validation themselves (`run_jobs`)."""
import io
import zipfile

import pytest

from app.jobs import runner


@pytest.fixture
def app(app, tmp_path):
    app.config.update(JOBS_WORKER_THREAD=False, PROJECT_STORAGE=str(tmp_path / "storage"),
                      GAUNTLET_TIMEOUT_SECONDS=5, GAUNTLET_CPU_SECONDS=5, GAUNTLET_MEMORY_MB=512)
    yield app
    runner.stop_worker(app)


def make_zip(files: dict, *, raw_names: list | None = None, symlinks: dict | None = None) -> bytes:
    """A zip archive of {name: bytes}; `symlinks` {name: target} become symbolic-link entries."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            archive.writestr(info, target)
    return buffer.getvalue()


AWS_KEY_LINE = 'AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"\n'
PRIVATE_KEY = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1c7+9z5Pad7OejecsQ0bu3aumg8A1kq8kq8kq8kq8kq8kq8k\n"
               "-----END RSA PRIVATE KEY-----\n")

# A small service as people write them: config files, code, a schema, tests.
REAL_LOOKING = {
    "README.md": b"# Billing service\n\nRun `make test`.\n",
    "app/__init__.py": b"",
    "app/settings.py": ("import os\n\nDEBUG = False\n" + AWS_KEY_LINE + "REGION = 'eu-west-1'\n").encode(),
    "app/handlers.py": b"def handle(event):\n    return {'ok': True}\n",
    "deploy/id_rsa": PRIVATE_KEY.encode(),
    "config/app.yaml": b"name: billing\nreplicas: 2\nports:\n  - 8080\n",
    "config/broken.yaml": b"name: billing\nports:\n  - 8080\n  bad: [unclosed\n",
    "pyproject.toml": b'[project]\nname = "billing"\nversion = "1.0"\n',
    "schemas/service.schema.json": b'{"type": "object", "required": ["name", "replicas"], '
                                   b'"properties": {"name": {"type": "string"}, "replicas": {"type": "integer"}}}',
    "services/api.json": b'{\n  "$schema": "../schemas/service.schema.json",\n  "name": "api",\n'
                         b'  "replicas": "three"\n}\n',
}
