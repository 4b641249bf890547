"""The admin console: sign-up approval, sessions and roles that change at once, the audit trail,
usage roll-ups, feedback review and CSV exports (issue 14)."""
from __future__ import annotations

import csv
import io
import random
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, update

from app.admin.exports import FORMULA_PREFIXES, spreadsheet_safe
from app.auth.models import User, UserSession
from app.chat import model_requests
from app.chat.models import FeedbackItem, ModelRequest
from app.extensions import db
from app.models.base import utcnow
from app.security.audit import AuditLog, AuditLogIsAppendOnly, record_audit
from app.usage import services as usage
from app.usage.models import CostAggregation
from tests.conftest import SignedInClient, csrf_token_of, log_in
from tests.factories import PASSWORD, make_conversation, make_model, make_user

APP = Path(__file__).resolve().parents[2] / "app"


def sign_up(client, email: str):
    token = csrf_token_of(client, "/register")
    return client.post("/register", data={"email": email, "display_name": "Newcomer", "password": PASSWORD,
                                          "confirm": PASSWORD, "csrf_token": token})


def audit_entries(action: str) -> list[AuditLog]:
    return list(db.session.scalars(select(AuditLog).where(AuditLog.action == action)))


# --- sign-up approval -------------------------------------------------------------------------

@pytest.mark.postgres
def test_pending_sign_up_waits_then_gets_in_once_approved(app, login_as):
    app.config["SIGNUP_APPROVAL"] = True
    admin = login_as("admin")
    newcomer = app.test_client()
    assert sign_up(newcomer, "new@example.org").status_code == 303
    user = db.session.scalar(select(User).where(User.email == "new@example.org"))
    assert user.approval_status == "pending" and user.role == "user"

    home = newcomer.get("/")
    assert home.status_code == 302 and home.headers["Location"].endswith("/waiting")
    assert "waiting for approval" in newcomer.get("/waiting").get_data(as_text=True)
    for path in ("/chat", "/account", "/prompts", "/admin"):
        assert newcomer.get(path).status_code == 403, path

    assert "new@example.org" in admin.get("/admin/signups").get_data(as_text=True)
    assert admin.post(f"/admin/signups/{user.id}/approve", htmx=True).status_code == 200
    assert newcomer.get("/account").status_code == 200  # the same session, at its next request
    assert newcomer.get("/waiting").status_code == 302
    [entry] = audit_entries("approve_signup")
    assert entry.changes == {"before": {"approval_status": "pending", "is_active": True},
                             "after": {"approval_status": "approved", "is_active": True}}


@pytest.mark.postgres
def test_rejected_sign_up_is_signed_out_and_cannot_sign_in(app, login_as):
    app.config["SIGNUP_APPROVAL"] = True
    admin = login_as("admin")
    newcomer = app.test_client()
    sign_up(newcomer, "spam@example.org")
    user = db.session.scalar(select(User).where(User.email == "spam@example.org"))
    admin.post(f"/admin/signups/{user.id}/reject")
    assert newcomer.get("/waiting").status_code == 302  # signed out: sent to sign in
    refused = app.test_client()
    token = csrf_token_of(refused, "/login")
    answer = refused.post("/login", data={"email": "spam@example.org", "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 200 and "deactivated" in answer.get_data(as_text=True)
    db.session.refresh(user)
    assert (user.approval_status, user.is_active_account) == ("rejected", False)
    assert audit_entries("reject_signup")[0].changes["after"] == {"approval_status": "rejected", "is_active": False}
    # Deciding twice is refused, and nothing is recorded for it.
    assert admin.post(f"/admin/signups/{user.id}/approve").status_code == 409
    assert audit_entries("approve_signup") == []


def test_the_first_account_is_never_pending(app):
    app.config["SIGNUP_APPROVAL"] = True
    first = app.test_client()
    sign_up(first, "founder@example.org")
    founder = db.session.scalar(select(User))
    assert (founder.role, founder.approval_status) == ("admin", "approved")
    assert first.get("/admin").status_code == 200


def test_sign_ups_are_let_in_when_approval_is_off(app):
    make_user("admin")
    newcomer = app.test_client()
    sign_up(newcomer, "free@example.org")
    assert newcomer.get("/account").status_code == 200


# --- sessions and roles take effect at once ---------------------------------------------------

@pytest.mark.postgres
def test_deactivation_ends_live_sessions_at_once(app, login_as):
    admin = login_as("admin")
    person = login_as("user")
    other_browser = log_in(app.test_client(), person.user)
    assert person.get("/account").status_code == 200
    admin.post(f"/admin/users/{person.user.id}/deactivate", htmx=True)
    for browser in (person.client, other_browser):
        response = browser.get("/account")
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert db.session.scalar(select(func.count(UserSession.id)).where(
        UserSession.user_id == person.user.id, UserSession.revoked_at.is_(None))) == 0


@pytest.mark.postgres
def test_admin_signs_a_user_out_everywhere(app, login_as):
    admin = login_as("admin")
    person = login_as("user")
    admin.post(f"/admin/users/{person.user.id}/sessions/revoke")
    assert person.get("/account").status_code == 302
    [entry] = audit_entries("revoke_sessions")
    assert entry.changes == {"before": {"active_sessions": 1}, "after": {"active_sessions": 0}}


@pytest.mark.postgres
def test_a_role_change_takes_effect_on_the_next_request(login_as):
    admin = login_as("admin")
    person = login_as("user")
    assert person.get("/admin").status_code == 403
    admin.post(f"/admin/users/{person.user.id}/role", {"role": "admin"})
    assert person.get("/admin").status_code == 200
    admin.post(f"/admin/users/{person.user.id}/role", {"role": "user"})
    assert person.get("/admin").status_code == 403


def test_users_filter_by_role_and_status(login_as):
    admin = login_as("admin")
    make_user("moderator", email="mod@example.org")
    make_user(email="gone@example.org", is_active=False)
    waiting = make_user(email="wait@example.org")
    waiting.approval_status = "pending"
    db.session.commit()
    moderators = admin.get("/admin/users?role=moderator").get_data(as_text=True)
    assert "mod@example.org" in moderators and "gone@example.org" not in moderators
    deactivated = admin.get("/admin/users?status=deactivated").get_data(as_text=True)
    assert "gone@example.org" in deactivated and "mod@example.org" not in deactivated
    pending = admin.get("/admin/users?status=pending").get_data(as_text=True)
    assert "wait@example.org" in pending and "mod@example.org" not in pending


# --- the audit trail --------------------------------------------------------------------------

@pytest.mark.postgres
def test_every_admin_action_is_audited_with_before_and_after(app, login_as):
    admin = login_as("admin")
    target = make_user()
    waiting = make_user()
    waiting.approval_status = "pending"
    db.session.commit()
    feedback = _thumbs_down(target, "Wrong answer")
    admin.post(f"/admin/users/{target.id}/role", {"role": "moderator"})
    admin.post(f"/admin/users/{target.id}/deactivate")
    admin.post(f"/admin/users/{target.id}/reactivate")
    log_in(app.test_client(), target)
    admin.post(f"/admin/users/{target.id}/sessions/revoke")
    admin.post(f"/admin/signups/{waiting.id}/approve")
    admin.post(f"/admin/feedback/{feedback.id}/review", {"resolution_notes": "Prompt fixed"})
    expected = {"change_role", "deactivate", "reactivate", "revoke_sessions", "approve_signup", "review"}
    entries = list(db.session.scalars(select(AuditLog).where(AuditLog.user_id == admin.user.id)))
    assert {entry.action for entry in entries} == expected
    for entry in entries:
        assert entry.changes["before"] is not None and entry.changes["after"] is not None, entry.action
        assert entry.changes["before"] != entry.changes["after"], entry.action
    html = admin.get("/admin/audit?action=change_role").get_data(as_text=True)
    assert '<del class="audit-before">user</del>' in html and '<ins class="audit-after">moderator</ins>' in html


def test_audit_filters_by_actor_action_entity_and_date(login_as):
    admin = login_as("admin", email="boss@example.org")
    target = make_user()
    admin.post(f"/admin/users/{target.id}/role", {"role": "moderator"})
    record_audit(None, "prompt", "p1", "moderate", before={"status": "pending"}, after={"status": "approved"})
    db.session.commit()
    today = utcnow().date()

    def rows(query: str) -> int:
        return admin.get(f"/admin/audit?{query}").get_data(as_text=True).count('class="audit-diff"')

    assert rows("actor=boss") == 1 and rows("actor=system") == 1
    assert rows("action=moderate") == 1 and rows("entity=user") == 1
    assert rows(f"since={today}&until={today}") == 2
    assert rows(f"since={today + timedelta(days=1)}") == 0
    assert rows("since=not-a-date") == 2  # an unreadable date is ignored


def test_audit_rows_cannot_be_changed_or_deleted_through_the_orm(app):
    entry = record_audit(None, "user", "x", "something", after={"a": 1})
    db.session.commit()
    entry.action = "rewritten"
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.get(AuditLog, entry.id))
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.flush()
    db.session.rollback()
    for statement in (update(AuditLog).values(action="x"), delete(AuditLog)):
        with pytest.raises(AuditLogIsAppendOnly):
            db.session.execute(statement)
        db.session.rollback()
    assert db.session.get(AuditLog, entry.id).action == "something"


def test_no_code_in_the_app_updates_or_deletes_audit_rows():
    """Beyond the ORM guard: no service even tries (raw SQL included)."""
    forbidden = re.compile(r"(update|delete)\(\s*AuditLog|(UPDATE|DELETE\s+FROM)\s+audit_log", re.IGNORECASE)
    offenders = [f"{path.relative_to(APP)}:{number}" for path in APP.rglob("*.py")
                 for number, line in enumerate(path.read_text().splitlines(), 1) if forbidden.search(line)]
    assert offenders == []


# --- CSV exports ------------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", FORMULA_PREFIXES)
def test_cells_a_spreadsheet_would_run_are_escaped(prefix):
    assert spreadsheet_safe(prefix + "SUM(A1)") == "'" + prefix + "SUM(A1)"
    assert spreadsheet_safe("plain") == "plain" and spreadsheet_safe(None) == "" and spreadsheet_safe(-1) == "'-1"


@pytest.mark.postgres
def test_csv_exports_escape_formulas(app, login_as):
    admin = login_as("admin")
    attacker = make_user(email="=hyperlink(evil)@example.org")
    for prefix in FORMULA_PREFIXES:
        record_audit(attacker.id, "user", "x", "probe", after={"v": 1}, user_agent=prefix + "cmd|' /C calc'!A0")
    _call(attacker, model_name="@sum(1+1)", tokens=(10, 5))
    db.session.commit()

    audit = admin.get("/admin/audit.csv?action=probe")
    assert audit.mimetype == "text/csv" and "attachment" in audit.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(audit.get_data(as_text=True))))
    assert rows[0][0] == "created_at" and len(rows) == 1 + len(FORMULA_PREFIXES)
    assert {row[1] for row in rows[1:]} == {"'=hyperlink(evil)@example.org"}
    assert sorted(row[8][:2] for row in rows[1:]) == sorted("'" + prefix for prefix in FORMULA_PREFIXES)

    people = list(csv.reader(io.StringIO(admin.get("/admin/usage.csv?by=user").get_data(as_text=True))))
    assert people[1][:2] == ["'=hyperlink(evil)@example.org", "1"]
    models = list(csv.reader(io.StringIO(admin.get("/admin/usage.csv?by=model").get_data(as_text=True))))
    assert models[1][0].startswith("'@sum(1+1)")


# --- usage roll-ups ---------------------------------------------------------------------------

def _call(user, *, model_name="gpt-test", provider="openai", task_type="chat", status="success",
          tokens=(100, 50), prices=None, at=None, conversation=None):
    """A provider call recorded the one way the app records them."""
    requested = at or utcnow()
    call = ModelRequest(user_id=user.id if user else None, chat_id=conversation.id if conversation else None,
                        model_name=model_name, provider=provider, task_type=task_type, status=status,
                        requested_at=requested)
    usage_ = model_requests.Usage(*tokens) if tokens else None
    model_requests.record(call, usage_, prices, at=requested + timedelta(milliseconds=300))
    return call


def _raw_sums() -> dict:
    call = ModelRequest
    rows = db.session.execute(
        select(call.user_id, call.provider, call.model_name, call.task_type, func.count(),
               func.sum(call.total_tokens), func.sum(call.input_tokens), func.sum(call.output_tokens),
               func.sum(call.total_cost_usd), func.sum(call.latency_ms))
        .group_by(call.user_id, call.provider, call.model_name, call.task_type))
    return {tuple(row[:4]): (row[4], row[5], row[6], row[7], Decimal(row[8]), row[9]) for row in rows}


def _rolled_up_sums() -> dict:
    table = CostAggregation
    rows = db.session.execute(
        select(table.user_id, table.provider, table.model_id, table.task_type, func.sum(table.request_count),
               func.sum(table.total_tokens), func.sum(table.total_input_tokens), func.sum(table.total_output_tokens),
               func.sum(table.total_cost_usd), func.sum(table.total_latency_ms))
        .group_by(table.user_id, table.provider, table.model_id, table.task_type))
    return {tuple(row[:4]): (row[4], row[5], row[6], row[7], Decimal(row[8]), row[9]) for row in rows}


@pytest.mark.postgres
def test_roll_ups_equal_the_raw_rows_after_a_thousand_random_calls(app):
    rng = random.Random(14)
    people = [make_user() for _ in range(4)] + [None]
    priced = [make_model(f"Model {n}", prices=(rng.choice([0, 0.15, 2.5, 15]), rng.choice([0, 0.6, 10, 75]),
                                                rng.choice([0, 0.075]))) for n in range(3)]
    conversation = make_conversation(people[0])
    now = utcnow()
    for number in range(1000):
        model = rng.choice(priced)
        _call(rng.choice(people), model_name=model.model_id, provider=rng.choice(["openai", "anthropic"]),
              task_type=rng.choice(["chat", "chat", "title", "summary"]),
              status=rng.choice(["success", "success", "error", "stopped"]),
              tokens=rng.choice([None, (rng.randint(0, 200_000), rng.randint(0, 8_000), 0)]),
              prices=rng.choice([model, None]),
              at=now - timedelta(days=rng.randint(0, 40), seconds=rng.randint(0, 86_399)),
              conversation=conversation if number % 10 == 0 else None)
        if number % 50 == 0:
            db.session.commit()
    db.session.commit()
    raw = _raw_sums()
    assert sum(values[0] for values in raw.values()) == 1000
    assert _rolled_up_sums() == raw
    by_day = {(row.aggregation_date, row.user_id, row.model_id, row.task_type, row.provider): row.request_count
              for row in db.session.scalars(select(CostAggregation))}
    usage.rebuild()  # `flask usage rollup` writes the same rows, day by day
    rebuilt = {(row.aggregation_date, row.user_id, row.model_id, row.task_type, row.provider): row.request_count
               for row in db.session.scalars(select(CostAggregation))}
    assert rebuilt == by_day
    assert _rolled_up_sums() == raw
    errors = db.session.scalar(select(func.sum(CostAggregation.error_count)))
    assert errors == db.session.scalar(select(func.count()).where(ModelRequest.status == "error"))


def test_flask_usage_rollup_rebuilds_from_the_calls(app):
    person = make_user()
    _call(person, tokens=(1000, 10))
    db.session.commit()
    db.session.execute(delete(CostAggregation))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["usage", "rollup"])
    assert "Wrote 1 roll-up rows." in result.output
    assert db.session.scalar(select(CostAggregation.total_tokens)) == 1010


def test_usage_page_draws_charts_and_tables(login_as):
    admin = login_as("admin", email="boss@example.org")
    model = make_model("Priced", prices=(1, 2, 0))
    _call(admin.user, model_name="priced-model", tokens=(1_000_000, 500_000), prices=model)
    _call(admin.user, model_name="priced-model", tokens=(10, 5), at=utcnow() - timedelta(days=3))
    db.session.commit()
    html = admin.get("/admin/usage?days=7").get_data(as_text=True)
    assert html.count('class="chart-bar"') >= 7 * 2 + 2
    assert "$2.00" in html and "priced-model (openai)" in html and "boss@example.org" in html
    assert " style=" not in html.split("<main", 1)[1]  # the CSP forbids inline style
    assert "Organisations do not exist yet" in html
    assert admin.get("/admin/usage?days=1000").status_code == 200  # an unknown period falls back to 30 days


def test_overview_compares_this_month_with_last_and_lists_failing_models(login_as):
    admin = login_as("admin")
    model = make_model("Priced", prices=(1, 0, 0))
    for status in ("error", "error", "success"):
        _call(admin.user, model_name="flaky-model", status=status, tokens=(1_000_000, 0), prices=model)
    db.session.commit()
    html = admin.get("/admin").get_data(as_text=True)
    assert "flaky-model" in html and "67%" in html
    assert "$3.00" in html
    assert "jobs failed" in html and "sign-ups to approve" in html and "prompts to moderate" in html


# --- feedback review --------------------------------------------------------------------------

def _thumbs_down(author, comment: str | None, model_name: str = "gpt-test") -> FeedbackItem:
    conversation = make_conversation(author, messages=2)
    from app.chat.models import Message

    answer = db.session.scalar(select(Message).where(Message.conversation_id == conversation.id,
                                                     Message.role == "assistant"))
    call = _call(author, model_name=model_name, conversation=conversation)
    item = FeedbackItem(user_id=author.id, chat_id=conversation.id, message_id=answer.id, model_request_id=call.id,
                        category="down", content=comment)
    db.session.add(item)
    db.session.commit()
    return item


def test_feedback_lists_thumbs_down_newest_first_and_filters_by_model(login_as):
    admin = login_as("admin")
    author = make_user()
    _thumbs_down(author, "Too long", model_name="model-a")
    _thumbs_down(make_user(), "Made things up", model_name="model-b")
    html = admin.get("/admin/feedback").get_data(as_text=True)
    assert html.index("Made things up") < html.index("Too long")
    filtered = admin.get("/admin/feedback?model=model-a").get_data(as_text=True)
    assert "Too long" in filtered and "Made things up" not in filtered


@pytest.mark.postgres
def test_admin_marks_feedback_reviewed_with_notes(login_as):
    admin = login_as("admin")
    item = _thumbs_down(make_user(), "Wrong date")
    answer = admin.post(f"/admin/feedback/{item.id}/review", {"resolution_notes": "Known model limit"}, htmx=True)
    assert answer.status_code == 200 and "Known model limit" in answer.get_data(as_text=True)
    db.session.refresh(item)
    assert (item.status, item.reviewed_by, item.resolution_notes) == ("reviewed", admin.user.id, "Known model limit")
    assert item.reviewed_at is not None
    assert admin.post(f"/admin/feedback/{item.id}/review", {"resolution_notes": "x" * 2001}).status_code == 422
    assert "Known model limit" not in admin.get("/admin/feedback?status=new").get_data(as_text=True)


def test_admin_pages_answer_admins(login_as):
    admin = login_as("admin")
    for page in ("/admin", "/admin/users", "/admin/signups", "/admin/audit", "/admin/usage", "/admin/feedback",
                 f"/admin/users/{admin.user.id}"):
        assert admin.get(page).status_code == 200, page


def test_a_waiting_account_cannot_use_a_signed_in_client(app):
    waiting = make_user()
    waiting.approval_status = "pending"
    db.session.commit()
    client = log_in(app.test_client(), waiting)
    person = SignedInClient(client, waiting)
    assert person.get("/chat").status_code == 403
    assert person.post("/logout").status_code == 303


def test_a_waiting_account_gets_403_from_the_api(app):
    from app.api import keys
    from app.security.origin import Origin

    waiting = make_user()
    _row, key = keys.create_key(waiting, "before approval", ["conversations:read"], 30, Origin(None, None))
    waiting.approval_status = "pending"
    db.session.commit()
    response = app.test_client().get("/api/v1/conversations", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 403
