"""The screenshot tests' own checks catch what they promise to, and let through what overflows on
purpose (otherwise every looks test would pass vacuously)."""
from __future__ import annotations

import pytest

from tests.helpers.browser import assert_looks_right

pytestmark = pytest.mark.browser
LONG = "Averyveryverylongwordwithoutanyspacesthatcannotwrapanywhereatall"


def page_with(page, body: str):
    page.set_content(f"<!doctype html><html><body style='margin:0'><main>{body}</main></body></html>")
    return page


def test_text_spilling_out_of_its_box_is_caught(page):
    page_with(page, f"<div style='width:100px'>{LONG}</div>")
    with pytest.raises(AssertionError, match="text overflows its box"):
        assert_looks_right(page)


def test_a_missing_main_landmark_is_caught(page):
    page.set_content("<!doctype html><html><body><div>No main here</div></body></html>")
    with pytest.raises(AssertionError):
        assert_looks_right(page)


def test_overflow_on_purpose_or_out_of_sight_passes(page):
    page_with(page, f"""
      <pre style='width:100px'>{LONG}</pre>
      <div style='width:100px; overflow-x:auto'>{LONG}</div>
      <details style='width:100px'><summary>More</summary><div>{LONG}</div></details>
      <div style='width:100px; overflow-wrap:anywhere'>{LONG}</div>
    """)
    assert_looks_right(page)
