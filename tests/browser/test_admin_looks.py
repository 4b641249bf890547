"""The admin console's pages in light and dark (desktop, and phone for the widest ones): nothing
overflows sideways, and a screenshot of each is written to test-artifacts/screenshots/admin-*.png
for a person to look at. Approving a sign-up is clicked through."""
from __future__ import annotations

import random
from datetime import timedelta

import pytest

from app.admin import services as admin_services
from app.auth.models import User
from app.chat.models import FeedbackItem, Message, ModelRequest
from app.extensions import db
from app.models.base import utcnow
from app.security.audit import record_audit
from app.security.origin import Origin
from tests.browser.test_page_looks import SHOTS
from tests.factories import make_conversation, make_model, make_user
from tests.helpers.browser import assert_looks_right

pytestmark = pytest.mark.browser

ORIGIN = Origin("203.0.113.7", "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0")
LONG_WORD = "Supercalifragilisticexpialidocious" * 2


def make_console_world(admin: User) -> dict:
    """People in every state, 45 days of calls to four models, thumbs-down with comments, audit entries."""
    from sqlalchemy import select

    from app.chat import model_requests
    from app.llm.base import Usage

    rng = random.Random(14)
    people = [make_user(display_name=name, email=f"{name.split()[0].lower()}@example.org")
              for name in ("Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson")]
    waiting = [make_user(display_name="Newcomer Nia", email="nia@example.org"),
               make_user(display_name="Long " + LONG_WORD, email=f"{LONG_WORD.lower()}@example.org")]
    for person in waiting:
        person.approval_status = "pending"
    make_user(display_name="Gone Gary", email="gary@example.org", is_active=False)
    db.session.commit()
    models = [make_model(name, provider=provider, model_id=model_id, prices=prices) for name, provider, model_id, prices
              in [("GPT-4o", "openai", "gpt-4o", (2.5, 10, 1.25)),
                  ("GPT-4o mini", "openai", "gpt-4o-mini", (0.15, 0.6, 0.075)),
                  ("Claude Sonnet", "anthropic", "claude-sonnet-4", (3, 15, 0.3)),
                  ("A model with a " + LONG_WORD, "openai", "long-" + LONG_WORD.lower(), (1, 1, 0))]]
    now = utcnow()
    for _ in range(400):
        person, model = rng.choice(people + [admin]), rng.choice(models)
        at = now - timedelta(days=rng.choice(range(45)), minutes=rng.randint(0, 600))
        call = ModelRequest(user_id=person.id, model_name=model.model_id, provider=model.provider, task_type="chat",
                            status=rng.choice(["success"] * 9 + ["error"]), requested_at=at)
        model_requests.record(call, Usage(rng.randint(200, 20_000), rng.randint(50, 2_000)), model,
                              at=at + timedelta(seconds=2))
    for status in ("error", "error", "success"):  # a failing model in the last hour
        model_requests.record(ModelRequest(user_id=admin.id, model_name="claude-sonnet-4", provider="anthropic",
                                           status=status, requested_at=now - timedelta(minutes=5)), None, None)
    db.session.commit()
    comments = ["The dates in this answer are wrong: the meeting was on Tuesday.",
                None, "Too long, and it ignored my request for a table. " + LONG_WORD,
                "=HYPERLINK(\"http://example.com\") <script>alert(1)</script> stays text"]
    for number, comment in enumerate(comments):
        author = people[number % len(people)]
        conversation = make_conversation(author, messages=2, model=models[number % 3])
        answer = db.session.scalar(select(Message).where(Message.conversation_id == conversation.id,
                                                         Message.role == "assistant"))
        call = db.session.scalar(select(ModelRequest).where(ModelRequest.user_id == author.id).limit(1))
        db.session.add(FeedbackItem(user_id=author.id, chat_id=conversation.id, message_id=answer.id,
                                    model_request_id=call.id, category="down", content=comment))
    db.session.commit()
    admin_services.change_role(admin, people[1].id, "moderator", ORIGIN)
    admin_services.set_active(admin, people[3].id, False, ORIGIN)
    admin_services.set_active(admin, people[3].id, True, ORIGIN)
    record_audit(None, "prompt", "7", "moderate", before={"moderation_status": "pending"},
                 after={"moderation_status": "approved", "reason": None})
    db.session.commit()
    return {"person": people[0], "waiting": waiting}


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_admin_pages_fit_and_are_captured(signed_in_page, live_server, scheme):
    SHOTS.mkdir(parents=True, exist_ok=True)
    admin = make_user(role="admin", display_name="Ada Admin", email="admin@example.org")
    world = make_console_world(admin)
    page = signed_in_page(user=admin, color_scheme=scheme)
    shots = [
        ("admin-overview", "/admin"),
        ("admin-users", "/admin/users"),
        ("admin-users-filtered", "/admin/users?status=pending"),
        ("admin-user-detail", f"/admin/users/{world['person'].id}"),
        ("admin-signups", "/admin/signups"),
        ("admin-audit", "/admin/audit"),
        ("admin-usage", "/admin/usage?days=30"),
        ("admin-feedback", "/admin/feedback"),
    ]
    for name, path in shots:
        page.goto(f"{live_server}{path}")
        assert_looks_right(page)
        page.screenshot(path=SHOTS / f"{name}-desktop-{scheme}.png", full_page=True)
    phone = signed_in_page(user=admin, viewport="phone", color_scheme=scheme)
    for name, path in [("admin-usage", "/admin/usage"), ("admin-audit", "/admin/audit")]:
        phone.goto(f"{live_server}{path}")
        assert_looks_right(phone)
        phone.screenshot(path=SHOTS / f"{name}-phone-{scheme}.png", full_page=True)

    # A waiting account sees only the waiting page.
    newcomer = signed_in_page(user=world["waiting"][1], color_scheme=scheme)
    newcomer.wait_for_url("**/waiting")
    assert_looks_right(newcomer)
    newcomer.screenshot(path=SHOTS / f"admin-waiting-page-desktop-{scheme}.png", full_page=True)
    assert newcomer.get_by_role("navigation", name="Main").get_by_role("link", name="Chat").count() == 0
    assert newcomer.goto(f"{live_server}/chat").status == 403

    # Approving a waiting sign-up from the queue: the row goes, a toast says so.
    page.goto(f"{live_server}/admin/signups")
    page.get_by_role("button", name="Approve nia@example.org").click()
    page.get_by_text("nia@example.org can use Studio now.").wait_for()
    assert page.get_by_role("button", name="Approve nia@example.org").count() == 0
    db.session.expire_all()
    assert db.session.get(User, world["waiting"][0].id).approval_status == "approved"
