"""Role-gated pages and the navigation each role sees; admin edits of users and navigation, audited."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.auth.models import User
from app.extensions import db
from app.nav.models import NavigationItem
from app.security.audit import AuditLog
from tests.conftest import log_in
from tests.factories import make_user

ADMIN_PAGES = ["/admin", "/admin/users", "/admin/navigation", "/admin/audit"]


def admin_routes(app):
    """Every /admin rule with a concrete URL, so a new admin route cannot be forgotten here."""
    samples = {"uuid": "00000000-0000-7000-8000-000000000000", "int": "1"}  # by converter
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/admin"):
            url = re.sub(r"<(?:([^:>]+):)?([^>]+)>", lambda m: samples.get(m.group(1) or "", "x"), rule.rule)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield method, url


def nav_labels(html: str) -> list[str]:
    nav = html.split('<nav aria-label="Main">', 1)[1].split("</nav>", 1)[0]
    return re.findall(r">([^<>]+)</a>", nav)


@pytest.mark.parametrize("role", ["user", "moderator"])
def test_every_admin_route_refuses_non_admins(app, login_as, role):
    person = login_as(role)
    routes = list(admin_routes(app))
    assert len(routes) >= 10
    for method, url in routes:
        response = person.get(url) if method == "GET" else person.post(url, {"role": "admin", "direction": "up"})
        assert response.status_code == 403, (method, url)
    assert db.session.get(User, person.user.id).role == role


def test_signed_out_visitor_is_sent_to_sign_in(client):
    for page in ADMIN_PAGES + ["/account"]:
        response = client.get(page)
        assert response.status_code == 302 and "/login?next=" in response.headers["Location"]


def test_admin_sees_admin_pages_and_navigation(login_as):
    admin = login_as("admin")
    for page in ADMIN_PAGES:
        assert admin.get(page).status_code == 200, page
    labels = nav_labels(admin.get("/account").get_data(as_text=True))
    assert {"Users", "Navigation", "Audit log"} <= set(labels)


def test_user_does_not_see_admin_navigation(login_as):
    labels = nav_labels(login_as("user").get("/account").get_data(as_text=True))
    assert not {"Admin", "Users", "Navigation", "Audit log", "Moderation"} & set(labels)


def test_moderator_sees_moderator_items_but_no_admin_items(app, login_as):
    # A moderator-only item whose page exists (the moderation queue is not built yet).
    db.session.add(NavigationItem(label="Mod desk", link="/account", requires_role="moderator", position=5,
                                  type="link"))
    db.session.commit()
    moderator_labels = nav_labels(login_as("moderator").get("/account").get_data(as_text=True))
    user_labels = nav_labels(login_as("user").get("/account").get_data(as_text=True))
    assert "Mod desk" in moderator_labels and "Mod desk" not in user_labels
    assert not {"Users", "Navigation", "Audit log"} & set(moderator_labels)


def test_pages_not_built_yet_stay_out_of_the_navigation(login_as):
    db.session.add(NavigationItem(label="Reports", link="/reports", position=75, type="link"))
    db.session.commit()
    labels = nav_labels(login_as("admin").get("/account").get_data(as_text=True))
    assert "Reports" not in labels  # an item, but /reports does not exist
    assert "Billing" in labels  # seeded from the start, shown since /billing exists


def test_admin_changes_a_role_with_htmx_and_it_is_audited(login_as):
    admin = login_as("admin")
    target = make_user()
    response = admin.post(f"/admin/users/{target.id}/role", {"role": "moderator"}, htmx=True)
    assert response.status_code == 200
    assert "is now moderator" in response.headers["HX-Trigger"]
    assert f'id="user-{target.id}"' in response.get_data(as_text=True)
    assert db.session.get(User, target.id).role == "moderator"
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "change_role"))
    assert entry.user_id == admin.user.id and entry.entity_id == str(target.id)
    assert entry.changes == {"before": {"role": "user"}, "after": {"role": "moderator"}}
    assert entry.ip_address == "127.0.0.1"


def test_unknown_role_is_refused(login_as):
    admin = login_as("admin")
    target = make_user()
    assert admin.post(f"/admin/users/{target.id}/role", {"role": "owner"}).status_code == 422
    assert db.session.get(User, target.id).role == "user"


def test_admin_cannot_demote_or_deactivate_themselves(login_as):
    admin = login_as("admin")
    assert admin.post(f"/admin/users/{admin.user.id}/role", {"role": "user"}).status_code == 403
    assert admin.post(f"/admin/users/{admin.user.id}/deactivate").status_code == 403
    assert db.session.get(User, admin.user.id).role == "admin"


def test_deactivation_signs_the_user_out_at_once(app, login_as):
    admin = login_as("admin")
    target = make_user()
    target_client = log_in(app.test_client(), target)
    assert admin.post(f"/admin/users/{target.id}/deactivate").status_code == 303
    assert target_client.get("/account").status_code == 302
    assert db.session.scalar(select(AuditLog.action).where(AuditLog.entity_id == str(target.id))) == "deactivate"


@pytest.mark.postgres
def test_user_search_finds_by_email_and_name_and_swaps_rows(login_as):
    admin = login_as("admin")
    make_user(email="grace@example.org", display_name="Grace Hopper")
    make_user(email="linus@example.org", display_name="Linus")
    rows = admin.get("/admin/users?q=hopper",
                     headers={"HX-Request": "true", "HX-Target": "user-rows"}).get_data(as_text=True)
    assert "grace@example.org" in rows and "linus@example.org" not in rows
    assert "<html" not in rows  # only the rows fragment
    full = admin.get("/admin/users?q=hopper").get_data(as_text=True)
    assert "<html" in full and "grace@example.org" in full
    assert "No user matches" in admin.get("/admin/users?q=%25").get_data(as_text=True)


@pytest.mark.postgres
def test_admin_adds_edits_reorders_and_hides_navigation_items(login_as):
    admin = login_as("admin")
    response = admin.post("/admin/navigation",
                          {"label": "Handbook", "link": "/account", "requires_role": "", "item_type": "link"})
    assert response.status_code == 303
    item = db.session.scalar(select(NavigationItem).where(NavigationItem.label == "Handbook"))
    user = login_as("user")
    assert "Handbook" in nav_labels(user.get("/account").get_data(as_text=True))

    edited = admin.post(f"/admin/navigation/{item.id}", {"label": "Staff handbook", "link": "/account",
                                                          "requires_role": "admin", "item_type": "link"}, htmx=True)
    assert edited.status_code == 200 and "Staff handbook" in edited.get_data(as_text=True)
    assert "Staff handbook" not in nav_labels(user.get("/account").get_data(as_text=True))

    order_before = [i.id for i in db.session.scalars(select(NavigationItem).order_by(NavigationItem.position))]
    admin.post(f"/admin/navigation/{item.id}/move", {"direction": "up"}, htmx=True)
    order_after = [i.id for i in db.session.scalars(select(NavigationItem).order_by(NavigationItem.position))]
    assert order_after.index(item.id) == order_before.index(item.id) - 1

    admin.post(f"/admin/navigation/{item.id}/visibility", htmx=True)
    assert db.session.get(NavigationItem, item.id).is_active is False
    assert "Staff handbook" not in nav_labels(admin.get("/account").get_data(as_text=True))
    actions = set(db.session.scalars(select(AuditLog.action).where(AuditLog.entity_type == "navigation_item")))
    assert {"create", "update", "move_up", "hide"} <= actions


def test_navigation_link_must_be_a_local_path(login_as):
    admin = login_as("admin")
    for link in ["https://evil.example", "//evil.example", "javascript:alert(1)", "/\\evil"]:
        html = admin.post("/admin/navigation", {"label": "Bad", "link": link, "requires_role": "",
                                                "item_type": "link"}).get_data(as_text=True)
        assert "must be a path on this site" in html
        assert 'value="Bad"' in html  # what was typed is kept
    assert db.session.scalar(select(NavigationItem).where(NavigationItem.label == "Bad")) is None


def test_script_in_a_navigation_label_is_shown_as_text(login_as):
    admin = login_as("admin")
    admin.post("/admin/navigation", {"label": "<img src=x onerror=alert(1)>", "link": "/account",
                                     "requires_role": "", "item_type": "link"})
    for page in ("/account", "/admin/navigation"):
        html = admin.get(page).get_data(as_text=True)
        assert "<img src=x onerror" not in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html


@pytest.mark.postgres
def test_audit_page_lists_entries_newest_first(login_as):
    admin = login_as("admin")
    target = make_user()
    admin.post(f"/admin/users/{target.id}/role", {"role": "moderator"})
    admin.post(f"/admin/users/{target.id}/role", {"role": "user"})
    html = admin.get("/admin/audit").get_data(as_text=True)
    assert html.count("<td>change_role</td>") == 2  # (the action filter lists it once more)
    assert admin.get(f"/admin/users/{target.id}").status_code == 200


@pytest.mark.postgres
def test_admin_pages_have_a_constant_number_of_queries(app, login_as):
    from tests.conftest import count_queries

    admin = login_as("admin")
    admin.get("/admin/users")  # this process has read the navigation (kept until it changes)
    with count_queries(app) as few:
        admin.get("/admin/users")
    for _ in range(30):
        make_user()
    with count_queries(app) as many:
        admin.get("/admin/users")
    assert len(many) == len(few) <= 6
