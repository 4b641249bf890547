"""Share links: snapshots, visitors see no private data, dead links all look the same, headers, views,
revoke and update, the owner's lists, and "continue this conversation"."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.chat.models import Conversation, Message
from app.extensions import db
from app.models.base import utcnow
from app.sharing.models import Share
from tests.conftest import without_csrf_tokens
from tests.factories import make_conversation

pytestmark = pytest.mark.postgres  # snapshots copied in one transaction, tokens unique, view counters


def share(person, conversation, expiry="7d") -> Share:
    response = person.post(f"/chat/{conversation.id}/share", {"expiry": expiry}, htmx=True)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return db.session.scalars(select(Share).order_by(Share.created_at.desc())).first()


def add_message(conversation, role, text):
    db.session.add(Message(conversation_id=conversation.id, user_id=conversation.user_id, role=role, content=text,
                           content_html=f"<p>{text}</p>"))
    db.session.commit()


def test_tokens_are_long_random_and_unique(login_as):
    person = login_as("user")
    conversation = make_conversation(person.user, messages=2)
    tokens = {share(person, conversation).share_token for _ in range(20)}
    assert len(tokens) == 20
    assert all(len(t) >= 22 and re.fullmatch(r"[A-Za-z0-9_-]+", t) for t in tokens)  # ≥128 bits, URL-safe


def test_visitor_sees_the_snapshot_and_nothing_private(client, login_as):
    person = login_as("user", email="owner-secret@example.org")
    conversation = make_conversation(person.user, messages=4, title="Shared plans",
                                     system_prompt="SECRET SYSTEM PROMPT")
    link = share(person, conversation)
    add_message(conversation, "user", "written after the link was made")
    response = client.get(f"/s/{link.share_token}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Shared plans" in html and "Message 0 from the user" in html and "Message 3 from the assistant" in html
    assert "Studio demo" in html  # the model's name
    assert "written after the link was made" not in html
    for private in ("owner-secret@example.org", "SECRET SYSTEM PROMPT", 'id="composer"', "conversation-list",
                    "Sign out", person.user.display_name):
        assert private not in html
    assert response.headers["X-Robots-Tag"].startswith("noindex")
    assert response.headers["Referrer-Policy"] in ("no-referrer", "same-origin")
    assert response.headers["Cache-Control"] == "no-store"


def test_share_pages_are_never_stored_by_browsers_or_proxies(client, login_as):
    person = login_as("user")
    link = share(person, make_conversation(person.user, messages=2))
    assert client.get(f"/s/{link.share_token}").headers["Cache-Control"] == "no-store"
    person.post(f"/shares/{link.id}/revoke", {"from": "panel"}, htmx=True)
    gone = client.get(f"/s/{link.share_token}")
    assert gone.status_code == 404 and gone.headers["Cache-Control"] == "no-store"


def test_update_moves_the_snapshot_forward(client, login_as):
    person = login_as("user")
    conversation = make_conversation(person.user, messages=2)
    link = share(person, conversation)
    add_message(conversation, "user", "a later thought")
    assert "a later thought" not in client.get(f"/s/{link.share_token}").get_data(as_text=True)
    person.post(f"/shares/{link.id}/update", {"from": "panel"}, htmx=True)
    assert "a later thought" in client.get(f"/s/{link.share_token}").get_data(as_text=True)


def test_an_answer_being_written_is_not_in_the_snapshot(client, login_as):
    person = login_as("user")
    conversation = make_conversation(person.user, messages=1)
    db.session.add(Message(conversation_id=conversation.id, user_id=person.user.id, role="assistant",
                           content="half written", status="streaming", heartbeat_at=utcnow()))
    db.session.commit()
    link = share(person, conversation)
    assert "half written" not in client.get(f"/s/{link.share_token}").get_data(as_text=True)


def test_views_are_counted(client, login_as):
    person = login_as("user")
    link = share(person, make_conversation(person.user, messages=2))
    for _ in range(3):
        client.get(f"/s/{link.share_token}")
    db.session.refresh(link)
    assert link.view_count == 3
    assert "3 views" in person.get(f"/chat/{link.conversation_id}/shares").get_data(as_text=True)


def test_expired_revoked_and_unknown_links_answer_the_same_404(client, login_as):
    person = login_as("user")
    conversation = make_conversation(person.user, messages=2)
    revoked, expired = share(person, conversation), share(person, conversation, "1d")
    assert person.post(f"/shares/{revoked.id}/revoke", {"from": "panel"}, htmx=True).status_code == 200
    expired.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    answers = [client.get(f"/s/{token}") for token in (revoked.share_token, expired.share_token,
                                                       "x" * 32, "nope", "a" * 500)]
    assert {a.status_code for a in answers} == {404}
    assert len({without_csrf_tokens(a) for a in answers}) == 1  # tokens signed a second apart differ
    assert len({tuple(sorted((k, v) for k, v in a.headers.items() if k not in ("Date", "Content-Length", "Set-Cookie")))
                for a in answers}) == 1
    db.session.refresh(revoked)
    assert revoked.view_count == 0


def test_deleting_the_conversation_kills_its_links(client, login_as):
    person = login_as("user")
    conversation = make_conversation(person.user, messages=2)
    link = share(person, conversation)
    token = link.share_token
    person.post(f"/chat/{conversation.id}/delete")
    assert client.get(f"/s/{token}").status_code == 404
    assert db.session.scalar(select(func.count(Share.id))) == 0


def test_the_owner_lists_links_on_the_conversation_and_in_the_account(login_as):
    person = login_as("user")
    conversation = make_conversation(person.user, messages=2, title="Listed topic")
    link = share(person, conversation, "never")
    panel = person.get(f"/chat/{conversation.id}/shares").get_data(as_text=True)
    assert f"/s/{link.share_token}" in panel and "never expires" in panel and "Copy link" in panel
    account = person.get("/account").get_data(as_text=True)
    assert "Listed topic" in account and "live" in account
    row = person.post(f"/shares/{link.id}/revoke", htmx=True).get_data(as_text=True)
    assert "revoked" in row


def test_unknown_expiry_is_refused(login_as):
    person = login_as("user")
    conversation = make_conversation(person.user, messages=2)
    assert person.post(f"/chat/{conversation.id}/share", {"expiry": "forever"}).status_code == 422


def test_other_users_cannot_share_revoke_update_or_list(login_as):
    owner, intruder = login_as("user"), login_as("user")
    conversation = make_conversation(owner.user, messages=2)
    link = share(owner, conversation)
    assert intruder.post(f"/chat/{conversation.id}/share", {"expiry": "7d"}).status_code == 404
    assert intruder.get(f"/chat/{conversation.id}/shares").status_code == 404
    assert intruder.post(f"/shares/{link.id}/revoke").status_code == 404
    assert intruder.post(f"/shares/{link.id}/update").status_code == 404
    db.session.refresh(link)
    assert link.revoked_at is None
    # Holding the link gives read access only: the owner's conversation stays closed.
    assert intruder.get(f"/s/{link.share_token}").status_code == 200
    assert intruder.get(f"/chat/{conversation.id}").status_code == 404
    assert intruder.post(f"/chat/{conversation.id}/rename", {"title": "mine now"}).status_code == 404


def test_a_signed_in_visitor_continues_in_their_own_chats(login_as):
    owner, visitor = login_as("user"), login_as("user")
    conversation = make_conversation(owner.user, messages=4, title="Recipe")
    link = share(owner, conversation)
    add_message(conversation, "user", "not in the snapshot")
    response = visitor.post(f"/s/{link.share_token}/continue", {"folder_id": "ignored"})
    assert response.status_code == 303
    copy_id = response.headers["Location"].rsplit("/", 1)[1]
    copy = db.session.get(Conversation, __import__("uuid").UUID(copy_id))
    assert copy.user_id == visitor.user.id and copy.title == "Recipe (continued)" and copy.folder_id is None
    texts = db.session.scalars(select(Message.content).where(Message.conversation_id == copy.id)
                               .order_by(Message.id)).all()
    assert texts == [f"Message {n} from the {'user' if n % 2 == 0 else 'assistant'}" for n in range(4)]
    assert db.session.scalar(select(func.count(Message.id)).where(Message.conversation_id == conversation.id)) == 5
    assert visitor.get(f"/chat/{copy.id}").status_code == 200


def test_continue_needs_an_account_and_a_live_link(client, login_as):
    owner = login_as("user")
    link = share(owner, make_conversation(owner.user, messages=2))
    assert client.post(f"/s/{link.share_token}/continue").status_code in (302, 400)
    owner.post(f"/shares/{link.id}/revoke")
    assert login_as("user").post(f"/s/{link.share_token}/continue").status_code == 404


@pytest.mark.parametrize("payload", ['<script>alert(1)</script>', '<img src=x onerror=alert(1)>',
                                     '[x](javascript:alert(1))', '<svg onload=alert(1)>'])
def test_script_in_a_shared_conversation_is_inert(client, login_as, payload):
    from app.core.markdown import render_markdown_safe

    person = login_as("user")
    conversation = make_conversation(person.user, title=payload)
    for role in ("user", "assistant"):
        db.session.add(Message(conversation_id=conversation.id, user_id=person.user.id, role=role, content=payload,
                               content_html=render_markdown_safe(payload)))
    db.session.commit()
    html = client.get(f"/s/{share(person, conversation).share_token}").get_data(as_text=True)
    assert "<script>alert" not in html and "onerror=alert" not in html.replace("onerror=alert(1)&gt;", "")
    assert 'href="javascript:' not in html and "<svg" not in html
