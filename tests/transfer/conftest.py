"""Imports run as jobs: here the app's worker thread is off unless a test turns it on, so most tests
run the queued job themselves (`run_jobs`) and see a finished import; any thread is stopped after."""
import pytest

from app.jobs import runner


@pytest.fixture
def app(app, tmp_path):
    app.config.update(JOBS_WORKER_THREAD=False, IMPORT_UPLOAD_DIR=str(tmp_path / "imports"))
    yield app
    runner.stop_worker(app)
