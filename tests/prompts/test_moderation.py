"""Moderation: public prompts wait for review; moderators approve or reject with a reason, recorded
in the audit log; the author sees the outcome; changing a published prompt sends it back."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app.extensions import db
from app.prompts.models import Prompt
from app.security.audit import AuditLog
from tests.prompts.factories import make_prompt

VALID = {"title": "Public helper", "content": "Explain {{ topic }} simply.", "tags": "teaching",
         "visibility": "public"}


def audit_entries(prompt) -> list[AuditLog]:
    return list(db.session.scalars(select(AuditLog).where(AuditLog.entity_type == "prompt",
                                                          AuditLog.entity_id == str(prompt.id))
                                   .order_by(AuditLog.created_at)))


def test_making_a_prompt_public_sends_it_to_review(login_as):
    author = login_as("user")
    response = author.post("/prompts/new", VALID)
    assert response.status_code == 303
    prompt = db.session.scalar(select(Prompt))
    assert (prompt.visibility, prompt.moderation_status) == ("public", "pending") and prompt.submitted_at
    page = author.get(f"/prompts/{prompt.id}").get_data(as_text=True)
    assert "Pending review" in page and "Waiting for review." in page
    assert "Public helper" in login_as("moderator").get("/moderation/prompts").get_data(as_text=True)


def test_a_user_cannot_reach_moderation(login_as):
    user = login_as("user")
    prompt = make_prompt(login_as("user").user, status="pending")
    assert user.get("/moderation/prompts").status_code == 403
    for action in ("approve", "reject"):
        response = user.post(f"/moderation/prompts/{prompt.id}/{action}", {"version": "1", "reason": "no"})
        assert response.status_code == 403
        assert user.post(f"/moderation/prompts/{prompt.id}/{action}", {"version": "1"}, htmx=True).status_code == 403
    db.session.refresh(prompt)
    assert prompt.moderation_status == "pending" and audit_entries(prompt) == []


@pytest.mark.postgres
def test_moderators_and_admins_see_the_queue_oldest_first(login_as):
    author = login_as("user").user
    make_prompt(author, title="Newer", status="pending", age_minutes=1)
    make_prompt(author, title="Older", status="pending", age_minutes=50)
    make_prompt(author, title="Already public", status="approved")
    make_prompt(author, title="Just private")
    for role in ("moderator", "admin"):
        html = login_as(role).get("/moderation/prompts").get_data(as_text=True)
        assert html.index("Older") < html.index("Newer")
        assert "Already public" not in html and "Just private" not in html


def test_approval_publishes_and_is_audited_with_before_and_after(login_as):
    author = login_as("user")
    prompt = make_prompt(author.user, title="Teach it", status="pending")
    moderator = login_as("moderator")
    response = moderator.post(f"/moderation/prompts/{prompt.id}/approve", {"version": "1"}, htmx=True,
                              headers={"User-Agent": "pytest-moderator"})
    assert response.status_code == 200
    assert json.loads(response.headers["HX-Trigger"])["toast"]["message"] == "Approved “Teach it”."
    assert "Public" in response.get_data(as_text=True)
    db.session.refresh(prompt)
    assert prompt.moderation_status == "approved" and prompt.moderated_by == moderator.user.id
    [entry] = audit_entries(prompt)
    assert entry.action == "approve" and entry.user_id == moderator.user.id
    assert entry.changes["before"]["moderation_status"] == "pending"
    assert entry.changes["after"] == {"moderation_status": "approved", "version": 2, "reason": None}
    assert entry.user_agent == "pytest-moderator"
    assert "Teach it" in login_as("user").get("/prompts?tab=public").get_data(as_text=True)


def test_rejection_needs_a_reason_which_the_author_then_sees(login_as):
    author = login_as("user")
    prompt = make_prompt(author.user, title="Dubious", status="pending")
    moderator = login_as("moderator")
    refused = moderator.post(f"/moderation/prompts/{prompt.id}/reject", {"version": "1", "reason": "  "}, htmx=True)
    assert refused.status_code == 200 and "Say why" in refused.get_data(as_text=True)
    db.session.refresh(prompt)
    assert prompt.moderation_status == "pending"
    response = moderator.post(f"/moderation/prompts/{prompt.id}/reject",
                              {"version": "1", "reason": "Asks for personal data."})
    assert response.status_code == 303
    db.session.refresh(prompt)
    assert (prompt.moderation_status, prompt.moderation_reason) == ("rejected", "Asks for personal data.")
    [entry] = audit_entries(prompt)
    assert entry.action == "reject" and entry.changes["after"]["reason"] == "Asks for personal data."
    page = author.get(f"/prompts/{prompt.id}").get_data(as_text=True)
    assert "Rejected" in page and "Asks for personal data." in page
    assert "Dubious" not in login_as("user").get("/prompts?tab=public").get_data(as_text=True)


def test_a_plain_reject_without_reason_keeps_the_queue_with_the_message(login_as):
    prompt = make_prompt(login_as("user").user, status="pending")
    response = login_as("moderator").post(f"/moderation/prompts/{prompt.id}/reject", {"version": "1"})
    assert response.status_code == 200 and "Say why" in response.get_data(as_text=True)


def test_editing_a_published_prompt_sends_it_back_to_review(login_as):
    author = login_as("user")
    prompt = make_prompt(author.user, title="Live one", status="approved")
    response = author.post(f"/prompts/{prompt.id}/edit", {**VALID, "title": "Live one, changed", "version": "1"})
    assert response.status_code == 303
    db.session.refresh(prompt)
    assert prompt.moderation_status == "pending" and prompt.version == 2
    assert "Live one" not in login_as("user").get("/prompts?tab=public").get_data(as_text=True)


def test_a_rejected_prompt_changed_goes_back_to_review_and_private_leaves_it(login_as):
    author = login_as("user")
    prompt = make_prompt(author.user, content="Old text", status="rejected", reason="Too vague")
    author.post(f"/prompts/{prompt.id}/edit", {**VALID, "version": "1"})
    db.session.refresh(prompt)
    assert prompt.moderation_status == "pending" and prompt.moderation_reason is None
    author.post(f"/prompts/{prompt.id}/edit", {**VALID, "visibility": "private", "version": "2"})
    db.session.refresh(prompt)
    assert (prompt.visibility, prompt.moderation_status) == ("private", "none")


def test_saving_without_any_change_keeps_the_approval(login_as):
    author = login_as("user")
    prompt = make_prompt(author.user, title="Stable", content="Explain {{ topic }} simply.", tags=("teaching",),
                         status="approved")
    author.post(f"/prompts/{prompt.id}/edit", {**VALID, "title": "Stable", "version": "1"})
    db.session.refresh(prompt)
    assert prompt.moderation_status == "approved" and prompt.version == 1


@pytest.mark.postgres
def test_a_moderator_approves_only_the_version_reviewed(login_as):
    author = login_as("user")
    prompt = make_prompt(author.user, title="Bait", content="Harmless text", status="pending")
    moderator = login_as("moderator")
    assert "Harmless text" in moderator.get("/moderation/prompts").get_data(as_text=True)
    author.post(f"/prompts/{prompt.id}/edit", {**VALID, "title": "Bait", "content": "Switched text", "version": "1"})
    response = moderator.post(f"/moderation/prompts/{prompt.id}/approve", {"version": "1"}, htmx=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "changed since you opened it" in response.headers["HX-Trigger"]
    assert "Switched text" in html  # the item again, with the new text to review
    db.session.refresh(prompt)
    assert prompt.moderation_status == "pending" and audit_entries(prompt) == []


@pytest.mark.postgres
def test_a_decision_on_a_prompt_already_decided_is_refused(login_as):
    prompt = make_prompt(login_as("user").user, status="approved")
    response = login_as("moderator").post(f"/moderation/prompts/{prompt.id}/reject",
                                          {"version": "1", "reason": "late"}, htmx=True)
    assert "no longer waiting" in response.headers["HX-Trigger"]
    db.session.refresh(prompt)
    assert prompt.moderation_status == "approved"


def test_private_and_unknown_prompts_cannot_be_moderated(login_as):
    prompt = make_prompt(login_as("user").user)
    moderator = login_as("moderator")
    assert moderator.post(f"/moderation/prompts/{prompt.id}/approve", {"version": "1"}).status_code == 404
    assert moderator.post("/moderation/prompts/00000000-0000-7000-8000-000000000000/approve",
                          {"version": "1"}).status_code == 404
    db.session.refresh(prompt)
    assert prompt.moderation_status == "none"


def test_a_moderator_cannot_approve_or_reject_their_own_prompt(login_as):
    moderator = login_as("moderator")
    prompt = make_prompt(moderator.user, title="My own helper", status="pending")
    queue = moderator.get("/moderation/prompts").get_data(as_text=True)
    assert "My own helper" in queue and "another moderator reviews it" in queue
    assert f'action="/moderation/prompts/{prompt.id}/approve"' not in queue
    assert moderator.post(f"/moderation/prompts/{prompt.id}/approve", {"version": "1"}).status_code == 403
    assert moderator.post(f"/moderation/prompts/{prompt.id}/reject",
                          {"version": "1", "reason": "changed my mind"}, htmx=True).status_code == 403
    db.session.refresh(prompt)
    assert prompt.moderation_status == "pending" and audit_entries(prompt) == []
    other = login_as("moderator")
    assert other.post(f"/moderation/prompts/{prompt.id}/approve", {"version": "1"}).status_code == 303
    db.session.refresh(prompt)
    assert prompt.moderation_status == "approved" and prompt.moderated_by == other.user.id


def test_an_admin_may_approve_their_own_prompt_and_it_is_audited(login_as):
    admin = login_as("admin")
    prompt = make_prompt(admin.user, title="Admin's helper", status="pending")
    response = admin.post(f"/moderation/prompts/{prompt.id}/approve", {"version": "1"})
    assert response.status_code == 303
    db.session.refresh(prompt)
    assert prompt.moderation_status == "approved"
    [entry] = audit_entries(prompt)
    assert entry.action == "approve" and entry.user_id == admin.user.id and entry.changes["after"]["own_prompt"] is True
