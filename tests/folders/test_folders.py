"""Folders: a tree per user with depth and cycle rules, moves, reorder, expand state, safe deletion."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.chat.models import Conversation
from app.extensions import db
from app.folders.models import Folder
from tests.conftest import count_queries
from tests.factories import make_conversation

pytestmark = pytest.mark.postgres  # tree moves, cycle and depth rules, ordering and query counts


def make_folder(user, name, parent=None, **fields):
    folder = Folder(user_id=user.id, name=name, parent_id=parent.id if parent else None,
                    color=fields.pop("color", "gray"), icon=fields.pop("icon", "folder"), **fields)
    db.session.add(folder)
    db.session.commit()
    return folder


def create(person, name, parent="", color="blue", icon="star"):
    return person.post("/chat/folders/new", {"name": name, "parent_id": parent, "color": color, "icon": icon})


def folder_named(name):
    return db.session.scalar(select(Folder).where(Folder.name == name))


def test_create_nested_folders_and_see_them_in_the_sidebar(login_as):
    person = login_as("user")
    assert create(person, "Work").status_code == 303
    work = folder_named("Work")
    assert create(person, "Reports", parent=str(work.id)).status_code == 303
    reports = folder_named("Reports")
    assert reports.parent_id == work.id and (work.color, work.icon) == ("blue", "star")
    sidebar = person.get("/chat/sidebar").get_data(as_text=True)
    assert sidebar.index("Work") < sidebar.index("Reports")
    assert 'aria-label="Subfolders of Work"' in sidebar


def test_folder_name_and_depth_limits_explain_and_keep_the_input(login_as):
    person = login_as("user")
    html = create(person, "x" * 101).get_data(as_text=True)
    assert "at most 100 characters" in html
    parent = None
    for level in range(5):
        parent = make_folder(person.user, f"Level {level}", parent)
    html = create(person, "Too deep", parent=str(parent.id)).get_data(as_text=True)
    assert "nest at most 5 levels" in html and 'value="Too deep"' in html
    assert folder_named("Too deep") is None


def test_a_folder_cannot_become_its_own_descendant(login_as):
    person = login_as("user")
    top = make_folder(person.user, "Top")
    middle = make_folder(person.user, "Middle", top)
    bottom = make_folder(person.user, "Bottom", middle)
    for new_parent in (top, bottom):
        html = person.post(f"/chat/folders/{top.id}", {"name": "Top", "parent_id": str(new_parent.id),
                                                        "color": "gray", "icon": "folder"}).get_data(as_text=True)
        assert "cannot go inside itself" in html
    db.session.refresh(top)
    assert top.parent_id is None


def test_moving_a_subtree_respects_the_depth_limit(login_as):
    person = login_as("user")
    chain = None
    for level in range(3):
        chain = make_folder(person.user, f"Deep {level}", chain)
    tall = make_folder(person.user, "Tall")
    make_folder(person.user, "Tall child", make_folder(person.user, "Tall middle", tall))
    html = person.post(f"/chat/folders/{tall.id}", {"name": "Tall", "parent_id": str(chain.id), "color": "gray",
                                                     "icon": "folder"}).get_data(as_text=True)
    assert "nest at most 5 levels" in html


def test_deleting_a_folder_moves_its_conversations_and_subfolders_to_its_parent(login_as):
    person = login_as("user")
    top = make_folder(person.user, "Top")
    doomed = make_folder(person.user, "Doomed", top)
    child = make_folder(person.user, "Child", doomed)
    conversation = make_conversation(person.user, title="Keep me", folder_id=doomed.id)
    doomed_id = doomed.id
    response = person.post(f"/chat/folders/{doomed_id}/delete", htmx=True)
    assert response.status_code == 204 and "moved up a level" in response.headers["HX-Trigger"]
    assert db.session.get(Folder, doomed_id) is None
    assert db.session.get(Conversation, conversation.id).folder_id == top.id
    assert db.session.get(Folder, child.id).parent_id == top.id
    # At the top level, contents land outside any folder.
    person.post(f"/chat/folders/{top.id}/delete")
    assert db.session.get(Conversation, conversation.id).folder_id is None
    assert db.session.get(Folder, child.id).parent_id is None


def test_move_a_conversation_by_menu_and_out_again(login_as):
    person = login_as("user")
    folder = make_folder(person.user, "Projects")
    conversation = make_conversation(person.user, title="Plan")
    page = person.get(f"/chat/{conversation.id}").get_data(as_text=True)
    assert f'<option value="{folder.id}"' in page
    response = person.post(f"/chat/{conversation.id}/folder", {"folder_id": str(folder.id)}, htmx=True)
    assert "Moved to" in response.headers["HX-Trigger"]
    assert db.session.get(Conversation, conversation.id).folder_id == folder.id
    sidebar = person.get("/chat/sidebar").get_data(as_text=True)
    recent = sidebar.split('id="recent-conversations"', 1)[1]
    assert "Plan" not in recent and 'aria-label="Conversations in Projects"' in sidebar
    person.post(f"/chat/{conversation.id}/folder", {"folder_id": ""}, htmx=True)
    assert db.session.get(Conversation, conversation.id).folder_id is None


def test_pinned_conversations_stay_on_top_of_their_folder(login_as):
    person = login_as("user")
    folder = make_folder(person.user, "Box")
    make_conversation(person.user, title="Pinned old", folder_id=folder.id, is_pinned=True)
    make_conversation(person.user, title="Newer unpinned", folder_id=folder.id)
    sidebar = person.get("/chat/sidebar").get_data(as_text=True)
    assert sidebar.index("Pinned old") < sidebar.index("Newer unpinned")


def test_collapsed_state_is_remembered(login_as):
    person = login_as("user")
    folder = make_folder(person.user, "Foldable")
    make_conversation(person.user, title="Inside", folder_id=folder.id)
    assert person.post(f"/chat/folders/{folder.id}/expanded", {"expanded": "0"}, htmx=True).status_code == 204
    sidebar = person.get("/chat/sidebar").get_data(as_text=True)
    assert "Inside" not in sidebar  # a closed folder does not even load its conversations
    assert 'class="folder" open' not in sidebar


def test_reorder_folders(login_as):
    person = login_as("user")
    first, second = make_folder(person.user, "Alpha", sort_order=10), make_folder(person.user, "Beta", sort_order=20)
    person.post(f"/chat/folders/{second.id}/move", {"direction": "up"})
    order = [f.name for f in db.session.scalars(select(Folder).order_by(Folder.sort_order))]
    assert order == ["Beta", "Alpha"] and first.id


def test_other_users_folders_answer_404_and_are_no_move_target(login_as):
    owner, intruder = login_as("user"), login_as("user")
    folder = make_folder(owner.user, "Private")
    mine = make_conversation(intruder.user)
    assert intruder.get(f"/chat/folders/{folder.id}").status_code == 404
    for path, data in [(f"/chat/folders/{folder.id}", {"name": "x", "color": "gray", "icon": "folder"}),
                       (f"/chat/folders/{folder.id}/delete", {}),
                       (f"/chat/folders/{folder.id}/move", {"direction": "up"}),
                       (f"/chat/folders/{folder.id}/expanded", {"expanded": "0"}),
                       (f"/chat/{mine.id}/folder", {"folder_id": str(folder.id)})]:
        assert intruder.post(path, data).status_code == 404, path
    assert intruder.get(f"/chat/folders/{folder.id}/conversations").status_code == 404
    own_folder = make_folder(intruder.user, "Mine")
    their_conversation = make_conversation(owner.user)
    assert intruder.post(f"/chat/{their_conversation.id}/folder", {"folder_id": str(own_folder.id)}).status_code == 404
    assert intruder.post("/chat/folders/new", {"name": "Sneaky", "parent_id": str(folder.id), "color": "gray",
                                               "icon": "folder"}).status_code == 404
    db.session.refresh(folder)
    assert folder.name == "Private" and db.session.get(Conversation, their_conversation.id).folder_id is None


def test_script_in_a_folder_name_is_inert(login_as):
    person = login_as("user")
    create(person, '<img src=x onerror=alert(1)>')
    html = person.get("/chat").get_data(as_text=True)
    assert "<img src=x onerror" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


@pytest.mark.parametrize("value", ["red; }", "javascript:alert(1)", ""])
def test_unknown_colours_and_icons_are_refused(login_as, value):
    person = login_as("user")
    html = create(person, "Colourful", color=value).get_data(as_text=True)
    assert "Not a valid choice" in html and folder_named("Colourful") is None


def test_archive_page_lists_and_restores(login_as):
    person = login_as("user")
    conversation = make_conversation(person.user, title="Old stuff", is_archived=True)
    assert "Old stuff" not in person.get("/chat/sidebar").get_data(as_text=True)
    assert "Old stuff" in person.get("/chat/archive").get_data(as_text=True)
    person.post(f"/chat/{conversation.id}/archive", {"archived": "0"}, htmx=True)
    assert "Old stuff" in person.get("/chat/sidebar").get_data(as_text=True)
    assert "Old stuff" not in person.get("/chat/archive").get_data(as_text=True)


def test_sidebar_with_many_folders_uses_a_constant_number_of_queries(app, login_as):
    person = login_as("user")
    folders = [make_folder(person.user, f"F{n}") for n in range(3)]
    for folder in folders:
        make_conversation(person.user, folder_id=folder.id)
    with count_queries(app) as few:
        person.get("/chat/sidebar")
    folders += [make_folder(person.user, f"G{n}") for n in range(20)]
    for folder in folders:
        for _ in range(3):
            make_conversation(person.user, folder_id=folder.id)
    with count_queries(app) as many:
        html = person.get("/chat/sidebar").get_data(as_text=True)
    assert html.count('class="folder-node') == 23
    assert len(few) == len(many) <= 7  # +1: the per-request check of a role that requires two-factor sign-in
