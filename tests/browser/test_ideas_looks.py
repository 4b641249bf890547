"""The ideas board, an idea page and the new-idea form in light and dark, desktop and phone: nothing
overflows sideways, and screenshots go to test-artifacts/screenshots/ideas-*.png for a person to look at."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories import make_user
from tests.helpers.browser import assert_looks_right
from tests.ideas.factories import make_idea, make_note

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

DESCRIPTION = """Sending with **Ctrl+Enter** would stop accidental sends when typing long prompts.

- Enter adds a new line
- Ctrl+Enter (Cmd+Enter on a Mac) sends

```python
def send(message):
    return composer.submit(message)
```

| key | action |
| --- | --- |
| Enter | new line |
| Ctrl+Enter | send |

A very long word that must wrap: Supercalifragilisticexpialidocious_and_then_some_more_without_any_spaces_at_all
"""


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_ideas_pages_fit_and_are_captured(signed_in_page, live_server, viewport, scheme):
    SHOTS.mkdir(parents=True, exist_ok=True)
    moderator = make_user(role="moderator", display_name="Mo Derator")
    people = [make_user(display_name=name) for name in ("Ada Lovelace", "Grace <img src=x onerror=alert(1)>",
                                                        "Linus", "Margaret Hamilton")]
    main = make_idea(people[0], title="Send with Ctrl+Enter instead of Enter", description=DESCRIPTION,
                     priority_level="high", voters=people + [moderator], age_minutes=50)
    make_note(main, people[1], "Yes! I sent half a prompt **three times** today.")
    make_note(main, moderator, "Planned for the next release. `Shift+Enter` will stay a new line.")
    make_note(main, people[0], "Thanks. Could it be a setting?")
    make_idea(people[1], title="Dark theme for code blocks", status="planned", voters=people[:3], age_minutes=40)
    make_idea(people[2], title="Export a conversation as PDF with the model's name and the date on every page",
              status="in_progress", priority_level="low", voters=people[:2], age_minutes=30)
    make_idea(people[3], title="Shared folders", status="completed", voters=people[:1], age_minutes=20,
              completed_by=moderator)
    make_idea(people[1],
              title="<script>alert('board')</script> Averyveryverylongtitlewithoutanyspacesthatmustwrapsomewhere",
              status="declined", age_minutes=10)
    make_idea(moderator, title="Keyboard shortcut list", age_minutes=1)

    page = signed_in_page(user=moderator, viewport=viewport, color_scheme=scheme)
    page.goto(f"{live_server}/ideas")
    assert_looks_right(page)
    page.screenshot(path=SHOTS / f"ideas-board-{viewport}-{scheme}.png", full_page=True)

    page.goto(f"{live_server}/ideas/{main.id}")
    page.get_by_role("button", name="Add note").click()
    page.get_by_text("Write a note first.").wait_for()
    assert_looks_right(page)
    page.screenshot(path=SHOTS / f"ideas-idea-{viewport}-{scheme}.png", full_page=True)

    page.goto(f"{live_server}/ideas/new")
    page.get_by_label("Title").fill("T" * 20)
    page.get_by_role("button", name="Submit idea").click()
    page.get_by_text("Describe your idea").wait_for()
    assert_looks_right(page)
    page.screenshot(path=SHOTS / f"ideas-new-{viewport}-{scheme}.png", full_page=True)

    page.goto(f"{live_server}/ideas?q=nothing-matches-this")
    assert_looks_right(page)
    page.screenshot(path=SHOTS / f"ideas-empty-{viewport}-{scheme}.png")
