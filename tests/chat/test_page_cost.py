"""What the chat pages and the send path cost in SQL statements (issue 16: every stream pays them), pinned
so they cannot grow back: the chat's own statements exactly (sign-in, billing and navigation have theirs,
counted in their own tests), the whole request under a ceiling. Only the request's thread is counted: the
answer's generator, started by a send, runs in another. Plus what the send path shows: the sidebar row
of a conversation just written in moves to the top, and a plain-form send refused keeps the text."""
from __future__ import annotations

import threading
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select

from app.billing import organisations
from app.billing.models import TenantMembership
from app.chat.models import Conversation, FeedbackItem, Message
from app.extensions import db
from app.folders.models import Folder
from tests.chat.helpers import composer_token, last_answer, wait_for_answer
from tests.factories import make_conversation, make_user

pytestmark = pytest.mark.postgres

CHAT_TABLES = ("nexus_conversations", "nexus_messages", "ai_options", "feedback_items", "ai_models", "nexus_folders")


@contextmanager
def this_threads_statements(app):
    """The SQL statements this thread runs inside the block (a started answer's generator is left out)."""
    statements: list[str] = []
    me = threading.get_ident()

    def record(conn, cursor, statement, parameters, context, executemany):
        if threading.get_ident() == me:
            statements.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def chat_statements(statements: list[str]) -> list[str]:
    """The statements on chat's tables (conversations, messages, ratings, models, folders), shortened."""
    return [s[:60] for s in statements if any(table in s for table in CHAT_TABLES)]


def kinds(statements: list[str]) -> list[str]:
    """Each chat statement as "VERB table" (the first chat table it names), in order."""
    named = []
    for statement in statements:
        if not any(table in statement for table in CHAT_TABLES):
            continue
        verb = statement.split()[0]
        if verb == "WITH":  # never expected here: shown whole in a failure
            named.append(statement[:80])
            continue
        first = min((statement.index(t), t) for t in CHAT_TABLES if t in statement)[1]
        named.append(f"{verb} {first}")
    return named


def answer_lock() -> list[str]:
    """The per-person lock on starting answers: an advisory lock on PostgreSQL (no chat table); on
    SQLite a write that changes nothing, on the conversations."""
    return [] if db.engine.dialect.name == "postgresql" else ["UPDATE nexus_conversations"]


@pytest.fixture
def person(login_as):
    person = login_as("user")
    assert person.csrf_token  # fetched now, not inside a counted request
    return person


def test_new_chat_page_and_sending_cost_a_fixed_number_of_statements(app, person):
    for number in range(3):
        make_conversation(person.user, title=f"Older {number}", messages=2)
    with this_threads_statements(app) as page_statements:
        page = person.get("/chat").get_data(as_text=True)
    # The model picker, the sidebar (pinned and recent in one), the folders.
    assert kinds(page_statements) == ["SELECT ai_models", "SELECT nexus_conversations", "SELECT nexus_folders"]
    assert len(page_statements) <= 7, "\n".join(page_statements)

    data = {"content": "How cheap is a send?", "client_request_id": composer_token(page)}
    with this_threads_statements(app) as sent:
        response = person.post("/chat", data)
    assert response.status_code == 303
    # The models once (the chosen one comes from the picker's list); the conversation inserted with its
    # counts; the answers being written counted under the per-person lock; the question and the answer
    # in one INSERT. Nothing is read again after the commit.
    assert kinds(sent) == ["SELECT ai_models", "INSERT nexus_conversations", *answer_lock(), "SELECT nexus_messages",
                           "INSERT nexus_messages"], "\n".join(sent)
    assert len(sent) <= 9, "\n".join(sent)
    conversation = db.session.scalar(select(Conversation).where(Conversation.title == "How cheap is a send?")) \
        or db.session.scalar(select(Conversation).order_by(Conversation.created_at.desc()).limit(1))
    assert conversation.message_count == 2 and conversation.last_message_at is not None
    question, answer = db.session.scalars(select(Message).where(Message.conversation_id == conversation.id)
                                          .order_by(Message.id)).all()
    assert (question.role, question.content, answer.role) == ("user", "How cheap is a send?", "assistant")
    assert wait_for_answer(answer.id).status == "complete"


def test_conversation_page_costs_a_fixed_number_of_statements_whatever_it_shows(app, person):
    small = make_conversation(person.user, messages=2)
    large = make_conversation(person.user, messages=80)
    answers = db.session.scalars(select(Message).where(Message.conversation_id == large.id,
                                                       Message.role == "assistant").order_by(Message.id.desc())).all()
    db.session.add(FeedbackItem(user_id=person.user.id, chat_id=large.id, message_id=answers[0].id, category="up"))
    # Somebody else's rating (an admin reviewing, say) is not the reader's: the page never shows it.
    db.session.add(FeedbackItem(user_id=make_user().id, chat_id=large.id, message_id=answers[1].id, category="down"))
    db.session.add(Folder(user_id=person.user.id, name="Work", color="blue", icon="folder", sort_order=10,
                          is_expanded=False))
    make_conversation(person.user, title="Pinned one", is_pinned=True)
    db.session.commit()
    small_path, large_path = f"/chat/{small.id}", f"/chat/{large.id}"
    with this_threads_statements(app) as small_statements:
        assert person.get(small_path).status_code == 200
    with this_threads_statements(app) as large_statements:
        html = person.get(large_path).get_data(as_text=True)
    # The conversation, the model picker, the sidebar, the folders with their counts (no folder is
    # open: none of their conversations), and the page's messages with the reader's ratings and
    # whether each has earlier versions (none here: no statement for them).
    expected = ["SELECT nexus_conversations", "SELECT ai_models", "SELECT nexus_conversations",
                "SELECT nexus_folders", "SELECT nexus_conversations", "SELECT nexus_messages"]
    assert kinds(small_statements) == kinds(large_statements) == expected, "\n".join(large_statements)
    assert len(small_statements) == len(large_statements) <= 10, "\n".join(large_statements)
    assert html.count('aria-pressed="true"') == 1
    rated = html[html.index(f'id="feedback-{answers[0].id}"'):]
    assert rated.index('aria-label="Good answer"\n            aria-pressed="true"') < rated.index("</form>")
    assert html.count('class="message message-') == 50 and "Load earlier messages" in html

    # A regenerated answer: its earlier version is read (one more statement) and offered.
    regenerated = person.post(f"/chat/{small.id}/regenerate")
    assert regenerated.status_code == 303
    wait_for_answer(last_answer(small).id)
    with this_threads_statements(app) as with_versions:
        html = person.get(small_path).get_data(as_text=True)
    assert kinds(with_versions) == [*expected, "SELECT nexus_messages"]
    assert "previous version" in html.lower()


def test_sending_in_a_conversation_costs_a_fixed_number_of_statements(app, person):
    conversation = make_conversation(person.user, messages=2)
    send_statements = ["SELECT nexus_conversations", "SELECT ai_models", "SELECT nexus_messages",
                       "INSERT nexus_messages", *answer_lock(), "SELECT nexus_messages", "INSERT nexus_messages",
                       "UPDATE nexus_conversations"]
    for htmx in (True, False):
        page = person.get(f"/chat/{conversation.id}").get_data(as_text=True)
        data = {"content": f"sent with htmx={htmx}", "client_request_id": composer_token(page)}
        path = f"/chat/{conversation.id}/messages"
        with this_threads_statements(app) as sent:
            response = person.post(path, data, htmx=htmx)
        assert response.status_code == (200 if htmx else 303)
        # The conversation; the models; the repeat and in-progress checks in one; the question; the
        # answers being written counted; the answer; the conversation's counts. No re-read after commit.
        assert kinds(sent) == send_statements, "\n".join(sent)
        assert len(sent) <= 12, "\n".join(sent)
        wait_for_answer(last_answer(conversation).id)
    html = person.get(f"/chat/{conversation.id}").get_data(as_text=True)
    assert "sent with htmx=True" in html and "sent with htmx=False" in html


def test_an_htmx_send_moves_its_sidebar_row_to_the_top_of_its_list(app, person):
    recent = make_conversation(person.user, title="Recent <b>one</b>", messages=2)
    make_conversation(person.user, title="Newer one", messages=2)
    pinned = make_conversation(person.user, title="Pinned one", messages=2, is_pinned=True)
    folder = Folder(user_id=person.user.id, name="Work", color="blue", icon="folder", sort_order=10)
    db.session.add(folder)
    db.session.flush()
    filed = make_conversation(person.user, title="Filed one", messages=2, folder_id=folder.id)
    archived = make_conversation(person.user, title="Archived one", messages=2, is_archived=True)

    def send(conversation):
        page = person.get(f"/chat/{conversation.id}").get_data(as_text=True)
        data = {"content": "one more", "client_request_id": composer_token(page)}
        response = person.post(f"/chat/{conversation.id}/messages", data, htmx=True)
        wait_for_answer(last_answer(conversation).id)
        return response, response.get_data(as_text=True)

    response, html = send(recent)
    row = f'id="conversation-{recent.id}"'
    # First the old row goes, then the row comes back at the top of "Recent".
    assert html.index(f'<li {row} hx-swap-oob="delete">') < html.index(
        '<ul hx-swap-oob="afterbegin:#recent-conversations">') < html.rindex(row)
    assert "Recent &lt;b&gt;one&lt;/b&gt;" in html and "Recent <b>one</b>" not in html
    assert 'class="conversation-item is-current"' in html and "sidebar-changed" not in response.headers.get(
        "HX-Trigger", "")
    sidebar = person.get("/chat/sidebar").get_data(as_text=True)  # what a reload shows: the same order
    assert sidebar.index('id="pinned-conversations"') < sidebar.index('id="recent-conversations"') \
        < sidebar.index("Recent &lt;b&gt;one") < sidebar.index("Newer one")

    _, html = send(pinned)
    assert '<ul hx-swap-oob="afterbegin:#pinned-conversations">' in html and f'conversation-{pinned.id}' in html

    # In a folder its place is among the folder's, pinned first and paged: the sidebar reloads instead.
    response, html = send(filed)
    assert "sidebar-changed" in response.headers["HX-Trigger"] and "hx-swap-oob=\"delete\"" not in html

    # Archived: not in the sidebar, and sending does not put it there.
    _, html = send(archived)
    assert "hx-swap-oob=\"delete\"" not in html and "afterbegin:#" not in html


def test_a_plain_form_send_billed_to_an_organisation_left_keeps_the_text(app, person):
    admin = make_user(role="admin")
    tenant = organisations.create_organisation(admin, "Acme")
    db.session.add(TenantMembership(user_id=person.user.id, tenant_id=tenant.id, role="member"))
    conversation = make_conversation(person.user, messages=2, tenant_id=tenant.id)
    db.session.commit()
    token = composer_token(person.get(f"/chat/{conversation.id}").get_data(as_text=True))
    organisations.remove_member(admin, tenant.id, organisations.membership_of(person.user.id, tenant.id).id)

    text = "A long thought <script>alert(1)</script> I do not want to type again"
    refused = person.post(f"/chat/{conversation.id}/messages", {"content": text, "client_request_id": token})
    html = refused.get_data(as_text=True)
    # The conversation page again, the text in the composer (escaped), and why.
    assert refused.status_code == 404 and 'id="composer"' in html and 'id="message-' in html
    assert "A long thought &lt;script&gt;alert(1)&lt;/script&gt; I do not want to type again</textarea>" in html
    assert "<script>alert(1)" not in html
    assert "You are not a member of that organisation" in html and "can no longer bill" in html
    assert db.session.scalar(select(Message).where(Message.content == text)) is None  # nothing stored

    # htmx keeps the composer as it is (an error answer is not swapped) and says why in a toast.
    refused = person.post(f"/chat/{conversation.id}/messages", {"content": text, "client_request_id": token},
                          htmx=True)
    assert refused.status_code == 404 and "not a member" in refused.headers["HX-Trigger"]

    # Another person's conversation still answers a plain 404 page, with nothing of theirs.
    other = make_conversation(make_user(), title="Not yours", messages=2)
    response = person.post(f"/chat/{other.id}/messages", {"content": text, "client_request_id": token})
    assert response.status_code == 404 and "Not yours" not in response.get_data(as_text=True)
    assert "I do not want to type again" not in response.get_data(as_text=True)


def test_a_sidebar_rows_addresses_are_its_routes(app, person):
    """The sidebar builds a row's move and menu addresses from its conversation's address (one url_for a
    row): they must stay the routes' own."""
    from flask import url_for

    conversation = make_conversation(person.user, title="Addressed")
    sidebar = person.get("/chat/sidebar").get_data(as_text=True)
    with app.test_request_context():
        for endpoint in ("chat.show", "chat.move_to_folder", "chat.item_menu"):
            assert f'"{url_for(endpoint, conversation_id=conversation.id)}"' in sidebar
