"""Folder rules: a tree per user, limited in depth, never a cycle; deleting moves contents up."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import func, select, update

from app.chat import services as chat_services
from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.folders.models import FOLDER_COLORS, FOLDER_ICONS, Folder

MAX_DEPTH = 5
MAX_NAME_CHARS = 100
MAX_FOLDERS = 500
CONVERSATIONS_PER_FOLDER = 8


def get_folder_for(user, folder_id: uuid.UUID) -> Folder:
    """The user's own folder; anybody else's answers NotFound."""
    folder = db.session.get(Folder, folder_id)
    if folder is None or folder.user_id != user.id:
        raise NotFound("There is no such folder.")
    return folder


def folders_of(user) -> list[Folder]:
    return list(db.session.scalars(
        select(Folder).where(Folder.user_id == user.id).order_by(Folder.sort_order, Folder.name).limit(MAX_FOLDERS)))


@dataclass
class FolderNode:
    folder: Folder
    children: list[FolderNode] = field(default_factory=list)
    conversations: list = field(default_factory=list)  # the first few, from chat.services
    conversation_count: int = 0
    depth: int = 0


def folder_tree(user) -> list[FolderNode]:
    """The user's folders as a tree, with the first conversations of each expanded folder
    (pinned first, then newest). Three queries, whatever the number of folders."""
    folders = folders_of(user)
    if not folders:
        return []
    nodes = {folder.id: FolderNode(folder) for folder in folders}
    counts = chat_services.folder_conversation_counts(user)
    expanded = [folder.id for folder in folders if folder.is_expanded and counts.get(folder.id)]
    for conversation in chat_services.first_conversations_in_folders(user, expanded, CONVERSATIONS_PER_FOLDER):
        nodes[conversation.folder_id].conversations.append(conversation)
    roots = []
    for folder in folders:
        node = nodes[folder.id]
        node.conversation_count = counts.get(folder.id, 0)
        parent = nodes.get(folder.parent_id)
        (parent.children if parent else roots).append(node)
    _set_depths(roots, 0)
    return roots


def _set_depths(nodes: list[FolderNode], depth: int) -> None:
    for node in nodes:
        node.depth = depth
        _set_depths(node.children, depth + 1)


def folder_conversations(user, folder: Folder, page: int) -> tuple[list, bool]:
    """A page of one folder's conversations, pinned first."""
    return chat_services.conversations_in_folder(user, folder.id, page, CONVERSATIONS_PER_FOLDER)


def _ancestors(folder: Folder) -> list[Folder]:
    """The chain of parents above a folder, nearest first (bounded: trees are at most MAX_DEPTH deep)."""
    chain, seen, current = [], set(), folder
    while current.parent_id is not None and current.parent_id not in seen and len(chain) <= MAX_DEPTH + 1:
        seen.add(current.parent_id)
        current = db.session.get(Folder, current.parent_id)
        if current is None:
            break
        chain.append(current)
    return chain


def _subtree_height(user, folder: Folder) -> int:
    """Levels below this folder (0 for a leaf)."""
    children_of: dict = {}
    for item in folders_of(user):
        children_of.setdefault(item.parent_id, []).append(item.id)

    def height(folder_id, guard=0):
        kids = children_of.get(folder_id, [])
        return 0 if not kids or guard > MAX_DEPTH + 1 else 1 + max(height(k, guard + 1) for k in kids)

    return height(folder.id)


def _clean(name: str | None, color: str | None, icon: str | None) -> tuple[str, str, str]:
    name = (name or "").replace("\x00", "").strip()
    if not name:
        raise ValidationFailed("Give the folder a name.")
    if len(name) > MAX_NAME_CHARS:
        raise ValidationFailed(f"A folder name has at most {MAX_NAME_CHARS} characters.")
    if color not in FOLDER_COLORS:
        raise ValidationFailed("Choose one of the listed colours.")
    if icon not in FOLDER_ICONS:
        raise ValidationFailed("Choose one of the listed icons.")
    return name, color, icon


def _check_placement(user, folder: Folder | None, parent: Folder | None) -> None:
    """Refuse a cycle (a folder inside itself or its subfolders) and trees deeper than MAX_DEPTH."""
    if parent is None:
        return
    chain = [parent] + _ancestors(parent)
    if folder is not None and any(item.id == folder.id for item in chain):
        raise Conflict("A folder cannot go inside itself or one of its subfolders.")
    below = _subtree_height(user, folder) if folder is not None else 0
    if len(chain) + 1 + below > MAX_DEPTH:
        raise Conflict(f"Folders nest at most {MAX_DEPTH} levels deep.")


def create_folder(user, name: str, *, parent_id: uuid.UUID | None = None, color: str = "gray",
                  icon: str = "folder") -> Folder:
    name, color, icon = _clean(name, color, icon)
    parent = get_folder_for(user, parent_id) if parent_id else None
    if db.session.scalar(select(func.count(Folder.id)).where(Folder.user_id == user.id)) >= MAX_FOLDERS:
        raise Conflict(f"You have reached the limit of {MAX_FOLDERS} folders.")
    _check_placement(user, None, parent)
    same_level = Folder.parent_id == parent.id if parent else Folder.parent_id.is_(None)
    last = db.session.scalar(select(func.max(Folder.sort_order)).where(Folder.user_id == user.id, same_level)) or 0
    folder = Folder(user_id=user.id, parent_id=parent.id if parent else None, name=name, color=color, icon=icon,
                    sort_order=last + 10)
    db.session.add(folder)
    db.session.commit()
    return folder


def update_folder(user, folder: Folder, *, name: str, color: str, icon: str, parent_id: uuid.UUID | None) -> Folder:
    """Rename, recolour and move a folder under another (or to the top level)."""
    name, color, icon = _clean(name, color, icon)
    parent = get_folder_for(user, parent_id) if parent_id else None
    if parent_id != folder.parent_id:
        _check_placement(user, folder, parent)
    folder.name, folder.color, folder.icon = name, color, icon
    folder.parent_id = parent.id if parent else None
    db.session.commit()
    return folder


def set_expanded(user, folder: Folder, is_expanded: bool) -> None:
    folder.is_expanded = is_expanded
    db.session.commit()


def move_folder(user, folder: Folder, direction: str) -> None:
    """Swap with the sibling above or below."""
    siblings = list(db.session.scalars(select(Folder).where(
        Folder.user_id == user.id,
        Folder.parent_id == folder.parent_id if folder.parent_id else Folder.parent_id.is_(None))
        .order_by(Folder.sort_order, Folder.name)))
    index = next(i for i, item in enumerate(siblings) if item.id == folder.id)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(siblings):
        siblings[index], siblings[other] = siblings[other], siblings[index]
        for position, item in enumerate(siblings, start=1):
            item.sort_order = position * 10
    db.session.commit()


def delete_folder(user, folder: Folder) -> tuple[int, int]:
    """Delete a folder; its subfolders and conversations move to its parent. Returns what moved."""
    moved_conversations = chat_services.move_folder_contents(folder.id, folder.parent_id)
    moved_folders = db.session.execute(
        update(Folder).where(Folder.parent_id == folder.id).values(parent_id=folder.parent_id)).rowcount
    db.session.delete(folder)
    db.session.commit()
    return moved_conversations, moved_folders


def move_conversation(user, conversation, folder_id: uuid.UUID | None) -> Folder | None:
    """Put the user's conversation in one of the user's folders (None: out of any folder)."""
    folder = get_folder_for(user, folder_id) if folder_id else None
    conversation.folder_id = folder.id if folder else None
    db.session.commit()
    return folder


def folder_choices(user, tree: list[FolderNode] | None = None) -> list[tuple[str, str]]:
    """(id, indented name) for pickers, in tree order (from `tree` when the caller has it already)."""
    if tree is None:
        by_parent: dict = {}
        for folder in folders_of(user):
            by_parent.setdefault(folder.parent_id, []).append(folder)

        def nodes_under(parent_id):
            return [FolderNode(f, nodes_under(f.id)) for f in by_parent.get(parent_id, [])]

        tree = nodes_under(None)
    choices: list[tuple[str, str]] = []

    def walk(nodes, depth):
        for node in nodes:
            choices.append((str(node.folder.id), "  " * depth + node.folder.name))
            walk(node.children, depth + 1)

    walk(tree, 0)
    return choices
