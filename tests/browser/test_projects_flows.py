"""A person uploads a zip, runs a validation and watches it, resolves a finding and rolls back a
checkpoint; screenshots of the project page, a run in progress and the findings, light and dark."""
from __future__ import annotations

import os

import pytest

from app.jobs import runner
from tests.helpers.browser import assert_looks_right
from tests.projects.conftest import REAL_LOOKING, make_zip

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("STUDIO_SCREENSHOTS")


def _shot(page, name):
    assert_looks_right(page)
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_upload_validate_watch_resolve_and_roll_back(signed_in_page, live_server, app, tmp_path, scheme):
    app.config.update(PROJECT_STORAGE=str(tmp_path / "storage"), JOBS_WORKER_THREAD=False)
    archive = tmp_path / "billing.zip"
    archive.write_bytes(make_zip(REAL_LOOKING))
    page = signed_in_page(color_scheme=scheme)

    page.goto(f"{live_server}/projects")
    page.get_by_label("Name").fill("Billing service")
    page.get_by_role("button", name="Create project").click()
    page.get_by_role("heading", name="Billing service").wait_for()
    page.get_by_label("A zip archive or files").set_input_files(str(archive))
    page.get_by_role("button", name="Upload").click()
    page.get_by_text("config/").first.wait_for()
    page.get_by_role("link", name="broken.yaml").wait_for()
    page.get_by_label("Checkpoint description").fill("Before any fixes")
    page.get_by_role("button", name="Save a checkpoint").click()
    page.get_by_text("Checkpoint saved (10 files).").wait_for()

    page.get_by_role("button", name="Run validation").click()
    page.get_by_role("heading", name="Validation waiting to start…").wait_for()
    page.get_by_role("button", name="Cancel validation").wait_for()
    _shot(page, f"run-in-progress-{scheme}")
    app.config["JOBS_WORKER_THREAD"] = True
    runner.wake(app)  # a worker starts: the page, polling, follows the run to its end
    page.get_by_role("heading", name="This run: succeeded").wait_for(timeout=30000)
    finding = page.locator(".finding", has_text="config/broken.yaml")
    finding.get_by_label("Notes on resolving this finding").fill("Known broken fixture")
    finding.get_by_role("button", name="Resolve").click()
    page.locator(".finding", has_text="config/broken.yaml").get_by_text("Known broken fixture").wait_for()
    page.get_by_text("Finding resolved.").wait_for()
    _shot(page, f"findings-{scheme}")

    page.get_by_role("link", name="Back to the project").click()
    page.get_by_role("heading", name="Health").wait_for()
    _shot(page, f"project-{scheme}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Roll back to Before any fixes", exact=False).click()
    page.get_by_text("Rolled back: 10 files restored.").wait_for()
    runner.stop_worker(app)
