"""Full-text search over one user's conversations: PostgreSQL tsvector + GIN, SQLite FTS5.
The owner's id is part of the index lookup, so a search never reads another user's rows.
Snippets are computed only for the rows shown, highlighted with <mark> and nothing else."""
from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass
from datetime import datetime

import nh3
from sqlalchemy import text

from app.extensions import db

PAGE_SIZE = 20
# Ranking scores every candidate; for a very common word only the newest matches compete, so a
# search costs the same for a user with ten thousand matches as for one with a hundred.
RANKED_CANDIDATES = 2000
TITLE_HITS = 8
FILTER_TITLES = 30
MAX_TERMS = 8
MAX_QUERY_CHARS = 200
START, STOP = "\x02", "\x03"
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass
class MessageHit:
    message_id: uuid.UUID
    conversation_id: uuid.UUID
    conversation_title: str
    role: str
    created_at: datetime
    snippet_html: str


@dataclass
class TitleHit:
    conversation_id: uuid.UUID
    title_html: str


@dataclass
class SearchResults:
    query: str
    terms: list[str]
    titles: list[TitleHit]
    messages: list[MessageHit]
    page: int
    has_more: bool


def search_terms(query: str) -> list[str]:
    """The words of a query (letters and digits only), lowercased, at most MAX_TERMS."""
    return [word.lower() for word in _WORD.findall(query or "")][:MAX_TERMS]


def highlight(snippet: str) -> str:
    """Escape a snippet, turn the database's markers into <mark>, and keep only well-formed <mark>s."""
    escaped = html.escape(snippet.replace("\x00", ""), quote=False)
    marked = escaped.replace(START, "<mark>").replace(STOP, "</mark>")
    return nh3.clean(marked, tags={"mark"}, attributes={})


def _highlight_title(title: str, terms: list[str]) -> str:
    if not terms:
        return html.escape(title)
    pattern = re.compile(r"\b(" + "|".join(re.escape(t) for t in terms) + r")", re.IGNORECASE)
    return highlight(pattern.sub(lambda m: START + m.group(0) + STOP, title))


def search(user, query: str, page: int = 1) -> SearchResults:
    """Ranked matches in the user's own message texts and titles (the last word matches as a prefix).
    Only current messages: text replaced by an edit or a regenerate is no longer "in" the conversation."""
    terms = search_terms(query)
    page = max(1, min(page, 500))
    if not terms:
        return SearchResults(query, terms, [], [], page, False)
    if db.engine.dialect.name == "postgresql":
        titles, hits, has_more = _search_postgresql(user, terms, page)
    else:
        titles, hits, has_more = _search_sqlite(user, terms, page)
    return SearchResults(query, terms, titles if page == 1 else [], hits, page, has_more)


def matching_titles(user, query: str, limit: int = FILTER_TITLES) -> list[TitleHit]:
    """The user's conversations whose title matches the query (the sidebar's filter), best first."""
    terms = search_terms(query[:MAX_QUERY_CHARS])
    if not terms:
        return []
    if db.engine.dialect.name == "postgresql":
        return _titles_postgresql(user, terms, limit)
    return _titles_sqlite(user, terms, limit)


def _rows_to_hits(rows, snippets: dict) -> list[MessageHit]:
    return [MessageHit(_as_uuid(row.id), _as_uuid(row.conversation_id), row.title, row.role,
                       _as_datetime(row.created_at), snippets.get(str(row.id), ""))
            for row in rows]


def _as_uuid(value) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _as_datetime(value) -> datetime:
    from datetime import UTC

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _search_postgresql(user, terms: list[str], page: int):
    # Terms are \w+ only, so this tsquery cannot be malformed; the last one matches as a prefix.
    tsquery = " & ".join(terms[:-1] + [terms[-1] + ":*"])
    params = {"user_id": user.id, "q": tsquery, "limit": PAGE_SIZE + 1, "offset": (page - 1) * PAGE_SIZE}
    rows = db.session.execute(text(
        "SELECT m.id, m.conversation_id, m.role, m.created_at, c.title FROM ("
        "  SELECT id, search_vector FROM nexus_messages"
        "  WHERE user_id = :user_id AND search_vector @@ to_tsquery('simple', :q) AND superseded_by_id IS NULL"
        "  ORDER BY id DESC LIMIT :candidates) AS candidate "
        "JOIN nexus_messages m ON m.id = candidate.id JOIN nexus_conversations c ON c.id = m.conversation_id "
        "ORDER BY ts_rank(candidate.search_vector, to_tsquery('simple', :q)) DESC, m.id DESC "
        "LIMIT :limit OFFSET :offset"), {**params, "candidates": RANKED_CANDIDATES}).all()
    shown = rows[:PAGE_SIZE]
    snippets = {}
    if shown:
        snippet_rows = db.session.execute(text(
            "SELECT id, ts_headline('simple', left(content, 5000), to_tsquery('simple', :q), "
            "'StartSel=\x02, StopSel=\x03, MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter=\" … \"') "
            "FROM nexus_messages WHERE id = ANY(:ids)"), {"q": tsquery, "ids": [r.id for r in shown]}).all()
        snippets = {str(r[0]): highlight(r[1]) for r in snippet_rows}
    titles = _titles_postgresql(user, terms, TITLE_HITS) if page == 1 else []
    return titles, _rows_to_hits(shown, snippets), len(rows) > PAGE_SIZE


def _titles_postgresql(user, terms: list[str], limit: int) -> list[TitleHit]:
    tsquery = " & ".join(terms[:-1] + [terms[-1] + ":*"])
    title_rows = db.session.execute(text(
        "SELECT id, title FROM nexus_conversations "
        "WHERE user_id = :user_id AND search_vector @@ to_tsquery('simple', :q) "
        "ORDER BY ts_rank(search_vector, to_tsquery('simple', :q)) DESC, last_activity_at DESC LIMIT :limit"),
        {"user_id": user.id, "q": tsquery, "limit": limit}).all()
    return [TitleHit(r.id, _highlight_title(r.title, terms)) for r in title_rows]


def _fts_query(column: str, owner_hex: str, terms: list[str]) -> str:
    """An FTS5 query limited to one owner; terms are quoted, the last one a prefix."""
    words = " AND ".join(f'"{t}"' for t in terms[:-1]) + (" AND " if len(terms) > 1 else "") + f'"{terms[-1]}" *'
    return f'user_id : "{owner_hex}" AND {column} : ({words})'


def _search_sqlite(user, terms: list[str], page: int):
    owner = user.id.hex  # how the Uuid type stores ids in SQLite
    match = _fts_query("content", owner, terms)
    rows = db.session.execute(text(
        "SELECT m.id, m.conversation_id, m.role, m.created_at, c.title, candidate.rowid AS fts_rowid FROM ("
        "  SELECT rowid, rank FROM message_fts WHERE message_fts MATCH :match ORDER BY rowid DESC LIMIT :candidates"
        ") AS candidate JOIN nexus_messages m ON m.rowid = candidate.rowid "
        "JOIN nexus_conversations c ON c.id = m.conversation_id "
        "WHERE m.user_id = :owner AND m.superseded_by_id IS NULL "
        "ORDER BY candidate.rank, m.id DESC LIMIT :limit OFFSET :offset"),
        {"match": match, "owner": owner, "limit": PAGE_SIZE + 1, "offset": (page - 1) * PAGE_SIZE,
         "candidates": RANKED_CANDIDATES}).all()
    shown = rows[:PAGE_SIZE]
    snippets = {}
    if shown:
        rowids = ",".join(str(int(r.fts_rowid)) for r in shown)
        snippet_rows = db.session.execute(text(
            "SELECT m.id, snippet(message_fts, 0, char(2), char(3), ' … ', 28) FROM message_fts "
            "JOIN nexus_messages m ON m.rowid = message_fts.rowid "
            f"WHERE message_fts MATCH :match AND message_fts.rowid IN ({rowids})"), {"match": match}).all()
        snippets = {str(r[0]): highlight(r[1] or "") for r in snippet_rows}
    titles = _titles_sqlite(user, terms, TITLE_HITS) if page == 1 else []
    return titles, _rows_to_hits(shown, snippets), len(rows) > PAGE_SIZE


def _titles_sqlite(user, terms: list[str], limit: int) -> list[TitleHit]:
    owner = user.id.hex
    title_rows = db.session.execute(text(
        "SELECT c.id, c.title FROM conversation_fts JOIN nexus_conversations c ON c.rowid = conversation_fts.rowid "
        "WHERE conversation_fts MATCH :match AND c.user_id = :owner "
        "ORDER BY conversation_fts.rank, c.last_activity_at DESC LIMIT :limit"),
        {"match": _fts_query("title", owner, terms), "owner": owner, "limit": limit}).all()
    return [TitleHit(_as_uuid(r.id), _highlight_title(r.title, terms)) for r in title_rows]
