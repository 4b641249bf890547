"""The prompt library's pages in light and dark, desktop and phone: nothing overflows sideways, and a
screenshot of each is written to test-artifacts/screenshots/prompts-*.png for a person to look at."""
from __future__ import annotations

import pytest

from tests.browser.test_page_looks import SHOTS
from tests.factories import make_user
from tests.helpers.browser import assert_looks_right
from tests.prompts.factories import make_prompt

pytestmark = pytest.mark.browser

LONG_WORD = "Supercalifragilisticexpialidocious" * 3


def make_library(author, others):
    """A library worth looking at: tags, variables, long words, script that must show as text."""
    make_prompt(author, title="Meeting notes → action items",
                description="Turns raw notes into a tidy list of owners and dates.",
                content="Read these notes:\n\n{{ notes }}\n\nList every action item as “owner — task — due date”. "
                        "Use {{ date_format = YYYY-MM-DD }} for dates.", tags=("meetings", "productivity"),
                status="approved", use_count=12, view_count=40)
    make_prompt(author, title="Cold e-mail", description="A polite first e-mail to someone you have not met.",
                content="Write a {{ tone = friendly }} e-mail to {{ name }} about {{ topic }}.",
                tags=("email", "writing", "sales"), status="pending")
    make_prompt(author, title="Rejected idea", content="Give me {{ something }}.", status="rejected",
                reason="Too vague to help anyone: say what it is for.")
    make_prompt(author, title="Private draft with a very long title that keeps going " + LONG_WORD,
                content="Summarise {{ text }} in {{ words = 50 }} words. " + LONG_WORD, tags=("drafts", LONG_WORD[:40]))
    for number, other in enumerate(others):
        make_prompt(other, title=f"Code review checklist {number}" if number else "Explain like I'm five",
                    description="<script>alert('x')</script> stays text" if number == 1 else None,
                    content="Explain {{ concept }} to a five-year-old, "
                            "with one example from {{ domain = everyday life }}.",
                    tags=("teaching", "writing"), status="approved", use_count=number)


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_prompt_pages_fit_and_are_captured(signed_in_page, live_server, viewport, scheme):
    SHOTS.mkdir(parents=True, exist_ok=True)
    author = make_user(role="moderator", display_name="Mo Moderator", email="mo@example.org")
    others = [make_user(display_name=f"Writer {n}") for n in range(3)]
    make_library(author, others)
    from sqlalchemy import select

    from app.extensions import db
    from app.prompts.models import Prompt

    meeting = db.session.scalar(select(Prompt).where(Prompt.title.like("Meeting%")))
    rejected = db.session.scalar(select(Prompt).where(Prompt.title == "Rejected idea"))
    pending = make_prompt(others[0], title="Translate politely",
                          content="Translate {{ text }} into {{ language = French }}, keeping a polite register. "
                                  "{{ 7*7 }} stays as written.",
                          tags=("translation",), description="For e-mails to partners abroad.", status="pending")

    page = signed_in_page(user=author, viewport=viewport, color_scheme=scheme)
    shots = [
        ("prompts-library-mine", "/prompts"),
        ("prompts-library-public", "/prompts?tab=public&tags=writing"),
        ("prompts-prompt", f"/prompts/{meeting.id}"),
        ("prompts-rejected", f"/prompts/{rejected.id}"),
        ("prompts-variables", f"/prompts/{meeting.id}/use"),
        ("prompts-edit", f"/prompts/{meeting.id}/edit"),
        ("prompts-moderation", "/moderation/prompts"),
    ]
    for name, path in shots:
        page.goto(f"{live_server}{path}")
        assert_looks_right(page)
        page.screenshot(path=SHOTS / f"{name}-{viewport}-{scheme}.png", full_page=True)
    # The reject form with its error, after an empty reason.
    page.goto(f"{live_server}/moderation/prompts")
    item = page.get_by_role("article", name="Translate politely")
    item.get_by_text("Reject…").click()
    item.get_by_role("button", name="Reject", exact=True).click()
    item = page.get_by_role("article", name="Translate politely")
    item.get_by_text("Say why, so the author can fix it.").wait_for()
    assert_looks_right(page)
    page.evaluate("window.scrollTo(0, 0)")  # a full-page shot taken scrolled shows the sticky bar mid-page
    page.screenshot(path=SHOTS / f"prompts-moderation-error-{viewport}-{scheme}.png", full_page=True)
    assert pending.id
