"""Triage: moderators and admins set status and priority; completing records who and when;
every change is in the audit log; a user cannot triage."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.ideas.models import Idea
from app.security.audit import AuditLog
from tests.ideas.factories import make_idea


def audit_entries(idea) -> list[AuditLog]:
    return list(db.session.scalars(select(AuditLog)
                                   .where(AuditLog.entity_type == "idea", AuditLog.entity_id == str(idea.id))
                                   .order_by(AuditLog.created_at, AuditLog.id)))


def test_a_user_cannot_change_the_status_or_see_triage(login_as):
    person = login_as("user")
    idea = make_idea(person.user)
    assert "Save triage" not in person.get(f"/ideas/{idea.id}").get_data(as_text=True)
    for htmx in (False, True):
        response = person.post(f"/ideas/{idea.id}/triage", {"status": "completed", "priority_level": "high"}, htmx=htmx)
        assert response.status_code == 403
    # Fields of the idea forms cannot smuggle a status either.
    person.post(f"/ideas/{idea.id}/edit", {"title": "t", "description": "d", "priority_level": "low",
                                           "status": "completed", "vote_count": "999"})
    db.session.refresh(idea)
    assert (idea.status, idea.vote_count, idea.completed_at) == ("new", 0, None)
    assert audit_entries(idea) == []


@pytest.mark.parametrize("role", ["moderator", "admin"])
def test_triage_is_saved_and_audited_with_before_and_after(login_as, role):
    moderator = login_as(role)
    idea = make_idea(priority_level="low")
    response = moderator.post(f"/ideas/{idea.id}/triage", {"status": "planned", "priority_level": "high"},
                              htmx=True, headers={"User-Agent": "Triage-Browser"})
    assert response.status_code == 204 and response.headers["HX-Redirect"] == f"/ideas/{idea.id}"
    db.session.refresh(idea)
    assert (idea.status, idea.priority_level) == ("planned", "high")
    [entry] = audit_entries(idea)
    assert (entry.user_id, entry.action, entry.user_agent) == (moderator.user.id, "triage", "Triage-Browser")
    assert entry.changes["before"]["status"] == "new" and entry.changes["before"]["priority_level"] == "low"
    assert entry.changes["after"]["status"] == "planned" and entry.changes["after"]["priority_level"] == "high"
    assert "Triage saved: planned, high priority." in moderator.get(f"/ideas/{idea.id}").get_data(as_text=True)


@pytest.mark.postgres
def test_completing_records_who_and_when_and_reopening_clears_it(login_as):
    moderator = login_as("moderator")
    idea = make_idea()
    response = moderator.post(f"/ideas/{idea.id}/triage", {"status": "completed", "priority_level": "medium"})
    assert response.status_code == 303
    db.session.refresh(idea)
    assert idea.status == "completed" and idea.completed_by_id == moderator.user.id
    assert idea.completed_at is not None and idea.completed_at.tzinfo is not None
    page = moderator.get(f"/ideas/{idea.id}").get_data(as_text=True)
    assert f"by {moderator.user.display_name}." in page and "voting closed" in page
    completed_at = idea.completed_at
    # Another change of priority keeps the first completion.
    moderator.post(f"/ideas/{idea.id}/triage", {"status": "completed", "priority_level": "high"})
    db.session.refresh(idea)
    assert idea.completed_at == completed_at
    moderator.post(f"/ideas/{idea.id}/triage", {"status": "in_progress", "priority_level": "high"})
    db.session.refresh(idea)
    assert (idea.status, idea.completed_at, idea.completed_by_id) == ("in_progress", None, None)
    entries = audit_entries(idea)
    assert [e.changes["after"]["status"] for e in entries] == ["completed", "completed", "in_progress"]
    assert entries[0].changes["after"]["completed_by"] == str(moderator.user.id)
    assert entries[2].changes["before"]["completed_at"] == completed_at.isoformat()


def test_saving_triage_without_a_change_is_not_audited(login_as):
    moderator = login_as("moderator")
    idea = make_idea(status="planned", priority_level="high")
    response = moderator.post(f"/ideas/{idea.id}/triage", {"status": "planned", "priority_level": "high"}, htmx=True)
    assert response.status_code == 204 and "Nothing changed." in response.headers["HX-Trigger"]
    assert audit_entries(idea) == []


@pytest.mark.parametrize("data", [{"status": "shipped", "priority_level": "high"},
                                  {"status": "planned", "priority_level": "urgent"},
                                  {}, {"status": "x" * 5000}])
def test_unknown_triage_values_are_refused_without_a_500(login_as, data):
    moderator = login_as("moderator")
    idea = make_idea()
    plain = moderator.post(f"/ideas/{idea.id}/triage", data)
    assert plain.status_code == 200 and "Choose" in plain.get_data(as_text=True)
    assert moderator.post(f"/ideas/{idea.id}/triage", data, htmx=True).status_code == 422
    db.session.refresh(idea)
    assert idea.status == "new" and audit_entries(idea) == []


@pytest.mark.postgres
def test_the_database_refuses_unknown_states(app):
    idea = make_idea()
    for column, value in [("status", "shipped"), ("priority_level", "urgent"), ("vote_count", -1)]:
        with pytest.raises(IntegrityError):
            db.session.execute(Idea.__table__.update().where(Idea.__table__.c.id == idea.id).values({column: value}))
            db.session.flush()
        db.session.rollback()
    with pytest.raises(IntegrityError):  # completed without a completion time
        db.session.execute(Idea.__table__.update().where(Idea.__table__.c.id == idea.id).values(status="completed"))
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Idea).where(Idea.status == "new")) == 1
