"""/admin/security: admins require two-factor sign-in per role (issue 15), audited, CSRF-checked."""
from __future__ import annotations

from sqlalchemy import select

from app.auth import two_factor
from app.extensions import db
from app.security.audit import AuditLog
from tests.auth.test_two_factor import enrol

SAVE = "/admin/security/two-factor"


def requirement_audits() -> list[AuditLog]:
    return list(db.session.scalars(select(AuditLog).where(AuditLog.action == "two_factor_requirement")
                                   .order_by(AuditLog.created_at)))


def test_admin_requires_two_factor_for_users_and_a_user_is_sent_to_enrolment_next(login_as):
    person = login_as("user")
    assert person.get("/chat").status_code == 200
    admin = login_as("admin")
    page = admin.get("/admin/security").get_data(as_text=True)
    assert "Require two-factor sign-in for users" in page and "Require two-factor sign-in for admins" in page

    saved = admin.post(SAVE, {"user_required": "y"})
    assert saved.status_code == 303 and saved.headers["Location"].endswith("/admin/security")
    assert two_factor.roles_requiring_two_factor() == {"user"}

    response = person.get("/chat")
    assert response.status_code == 303 and response.headers["Location"].endswith("/account/two-factor")
    assert admin.get("/admin").status_code == 200  # admins were not required
    assert 'id="admin_required"' in admin.get("/admin/security").get_data(as_text=True)


def test_each_change_is_audited_with_before_and_after(login_as):
    admin = login_as("admin")
    admin.post(SAVE, {"moderator_required": "y"})
    admin.post(SAVE, {"moderator_required": "y"})  # nothing changed: nothing written
    admin.post(SAVE, {})
    entries = requirement_audits()
    assert [(entry.entity_type, entry.entity_id, entry.user_id) for entry in entries] == \
        [("role_policy", "moderator", admin.user.id)] * 2
    assert [entry.changes for entry in entries] == [
        {"before": {"required": False}, "after": {"required": True}},
        {"before": {"required": True}, "after": {"required": False}},
    ]


def test_moderators_and_users_are_refused(login_as):
    for role in ("moderator", "user"):
        person = login_as(role)
        assert person.get("/admin/security").status_code == 403
        assert person.post(SAVE, {"user_required": "y"}).status_code == 403
    assert two_factor.roles_requiring_two_factor() == set()
    assert requirement_audits() == []


def test_a_post_without_csrf_token_is_refused(login_as):
    admin = login_as("admin")
    response = admin.client.post(SAVE, data={"user_required": "y"})
    assert response.status_code == 400
    assert two_factor.roles_requiring_two_factor() == set()


def test_an_admin_without_two_factor_is_warned_and_then_sent_to_set_it_up(login_as):
    admin = login_as("admin")
    assert "You have not set up two-factor sign-in yourself" in admin.get("/admin/security").get_data(as_text=True)
    saved = admin.post(SAVE, {"admin_required": "y"}, htmx=True)
    assert saved.status_code == 204 and saved.headers["HX-Redirect"].endswith("/account/two-factor")
    answer = admin.get("/admin/security")
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/account/two-factor")
    assert "you included" in admin.get("/account/two-factor").get_data(as_text=True)


def test_an_admin_with_two_factor_keeps_working_after_requiring_it_for_admins(login_as):
    admin = login_as("admin")
    enrol(admin)
    assert "You have not set up" not in admin.get("/admin/security").get_data(as_text=True)
    saved = admin.post(SAVE, {"admin_required": "y"})
    assert saved.headers["Location"].endswith("/admin/security")
    assert admin.get("/admin/security").status_code == 200
