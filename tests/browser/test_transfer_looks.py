"""The import page after an import, in light and dark, desktop and phone: a person uploads a ChatGPT
export, reads the report, imports it again (nothing new); screenshots go to
test-artifacts/screenshots/transfer-*.png."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.browser import assert_looks_right

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
FIXTURE = Path(__file__).resolve().parents[1] / "transfer" / "fixtures" / "chatgpt-conversations.json"


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_import_report_fits_and_is_captured(signed_in_page, live_server, viewport, scheme):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = signed_in_page(display_name="Importer", viewport=viewport, color_scheme=scheme)

    page.goto(f"{live_server}/chat/import")
    page.get_by_label("File to import").set_input_files(str(FIXTURE))
    page.get_by_role("button", name="Import", exact=True).click()
    heading = "Imported 3 conversations (10 messages) from a ChatGPT export"
    page.get_by_role("heading", name=heading).wait_for(timeout=20000)
    page.get_by_text("Skipped 2 conversations").wait_for()
    assert page.evaluate("window.__owned === undefined && document.title.indexOf('owned') === -1")
    assert_looks_right(page)
    page.screenshot(path=SHOTS / f"transfer-import-report-{viewport}-{scheme}.png", full_page=True)

    page.get_by_label("File to import").set_input_files(
        files=[{"name": "conversations.json", "mimeType": "application/json", "buffer": b"[" * 5000}])
    page.get_by_role("button", name="Import", exact=True).click()
    page.get_by_role("alert").get_by_text("Nothing was imported.").wait_for()
    assert_looks_right(page)
    page.screenshot(path=SHOTS / f"transfer-import-refused-{viewport}-{scheme}.png", full_page=True)

    page.goto(f"{live_server}/chat/import")
    page.get_by_label("File to import").set_input_files(str(FIXTURE))
    page.get_by_role("button", name="Import", exact=True).click()
    page.get_by_text("3 conversations were already imported, so they were not added again.").wait_for(timeout=20000)
    assert_looks_right(page)
