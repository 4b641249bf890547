"""The one answer to a finished action (core.pages.done) and which requests count as htmx fragments."""
import json

from flask import get_flashed_messages

from app.core.pages import SIDEBAR_CHANGED, done, is_htmx

HTMX = {"HX-Request": "true"}


def test_done_for_htmx_is_a_toast_and_events_without_a_body(app):
    with app.test_request_context(method="POST", headers=HTMX):
        response = done("Pinned.", "/chat/1", events=SIDEBAR_CHANGED)
        assert response.status_code == 204
        assert json.loads(response.headers["HX-Trigger"]) == {
            "toast": {"message": "Pinned.", "level": "success"}, "sidebar-changed": True}
        assert get_flashed_messages() == []


def test_done_for_htmx_sends_the_fragment_with_the_toast(app):
    with app.test_request_context(method="POST", headers=HTMX):
        response = done("Saved “<b>”.", "/admin", fragment="<li>row</li>", level="info")
        assert (response.status_code, response.get_data(as_text=True)) == (200, "<li>row</li>")
        assert json.loads(response.headers["HX-Trigger"])["toast"] == {"message": "Saved “<b>”.", "level": "info"}


def test_done_for_a_plain_form_flashes_and_redirects_with_303(app):
    with app.test_request_context(method="POST"):
        response = done("Folder saved.", "/chat", fragment="<li>ignored</li>", events=SIDEBAR_CHANGED)
        assert (response.status_code, response.headers["Location"]) == (303, "/chat")
        assert "HX-Trigger" not in response.headers
        assert get_flashed_messages(with_categories=True) == [("success", "Folder saved.")]


def test_done_with_navigate_sends_htmx_to_the_location_and_flashes_the_message_there(app):
    with app.test_request_context(method="POST", headers=HTMX):
        response = done("Idea deleted.", "/ideas", navigate=True)
        assert (response.status_code, response.headers["HX-Redirect"]) == (204, "/ideas")
        assert get_flashed_messages() == ["Idea deleted."]


def test_done_without_a_message_sends_no_toast(app):
    with app.test_request_context(method="POST", headers=HTMX):
        assert "HX-Trigger" not in done(None, "/chat/1").headers


def test_boosted_links_and_history_restores_are_answered_as_pages(app):
    for headers, expected in [(HTMX, True), ({**HTMX, "HX-Boosted": "true"}, False),
                              ({**HTMX, "HX-History-Restore-Request": "true"}, False), ({}, False)]:
        with app.test_request_context(headers=headers):
            assert is_htmx() is expected
