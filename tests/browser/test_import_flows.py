"""A person uploads a ChatGPT export, watches the import's progress, and opens an imported conversation."""
from __future__ import annotations

import json

import pytest

from tests.transfer.test_large_import import chatgpt_conversation

pytestmark = pytest.mark.browser


def test_upload_watch_the_progress_and_open_an_imported_conversation(signed_in_page, live_server, app, tmp_path):
    app.config.update(IMPORT_BATCH_SIZE=10, IMPORT_UPLOAD_DIR=str(tmp_path / "imports"))
    export = tmp_path / "conversations.json"
    export.write_text(json.dumps([chatgpt_conversation(number, "") for number in range(600)]))
    page = signed_in_page()

    page.goto(f"{live_server}/chat/import")
    page.get_by_label("File to import").set_input_files(str(export))
    page.get_by_role("button", name="Import", exact=True).click()
    page.get_by_role("button", name="Cancel import").wait_for()  # the progress page, while it runs
    page.get_by_text("You can leave this page: the import carries on").wait_for()
    page.get_by_role("heading", name="Imported 600 conversations (3,600 messages) from a ChatGPT export").wait_for(
        timeout=60000)
    assert page.get_by_role("button", name="Cancel import").count() == 0
    page.get_by_text("And 400 more, in your conversation list.").wait_for()

    page.get_by_role("link", name="Imported chat 7", exact=True).click()
    page.get_by_role("heading", name="Imported chat 7").wait_for(timeout=20000)
    page.get_by_text("Question 7.2: how would you plan a week of meals on a budget?").first.wait_for()
