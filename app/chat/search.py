"""Full-text search over one user's conversations: PostgreSQL tsvector + GIN, SQLite FTS5.

One query language on both databases, the web-search one: words must all match, the last one as a
prefix while typing; "a quoted phrase" matches those words in that order; -word or -"a phrase"
leaves out what contains it; a OR b matches either. The query is parsed here into words of letters
and digits only, then written as a tsquery (PostgreSQL) or an FTS5 expression (SQLite), so no input
can make either malformed. (PostgreSQL's websearch_to_tsquery reads the same syntax but has no
prefix match, and SQLite has no equivalent: one parser gives both databases the same answers.)

The owner is part of the index lookup (FTS5's user_id column; on PostgreSQL lexemes tagged with the
owner, migration 0018, or the owner's own messages newest first) and every row is checked against
the owner's id, so a search never returns another user's rows. Ranking takes the newest
RANKED_CANDIDATES matches first, then orders them by relevance (ts_rank; FTS5 bm25
with the owner column weighted 0): a very common word costs the same for a user with ten thousand
matches as for one with a hundred. Snippets are computed only for the rows shown, from a truncated
body, highlighted with <mark> and nothing else."""
from __future__ import annotations

import html
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime

import nh3
from sqlalchemy import text

from app.extensions import db

PAGE_SIZE = 20
# Ranking scores every candidate; for a very common word only the newest matches compete.
RANKED_CANDIDATES = 2000
TITLE_HITS = 8
FILTER_TITLES = 30
MAX_TERMS = 8
MAX_QUERY_CHARS = 200
SNIPPET_SOURCE_CHARS = 5000
START, STOP = "\x02", "\x03"
_WORD = re.compile(r"[^\W_]+", re.UNICODE)  # letters and digits: what both databases index as words
# A token: an optional minus, then a quoted phrase (the closing quote may be missing) or a bare word.
_TOKEN = re.compile(r'(-?)(?:"([^"]*)"?|([^\s"]+))')


@dataclass(frozen=True)
class Item:
    """A word, or a phrase of words in this order; `prefix`: the last word may continue."""

    words: tuple[str, ...]
    prefix: bool = False


@dataclass
class ParsedQuery:
    """All `groups` must match (each group: any one of its items), none of `excluded` may."""

    groups: list[list[Item]] = field(default_factory=list)
    excluded: list[Item] = field(default_factory=list)

    @property
    def terms(self) -> list[str]:
        """The words looked for (not the excluded ones), for highlighting titles."""
        return [word for group in self.groups for item in group for word in item.words]


def parse_query(query: str) -> ParsedQuery:
    """Read a query in the web-search syntax; at most MAX_TERMS words in all, lowercased."""
    parsed = ParsedQuery()
    budget = MAX_TERMS
    pending_or = False
    still_typing = False
    query = (query or "")[:MAX_QUERY_CHARS]
    for match in _TOKEN.finditer(query):
        minus, quoted, bare = match.group(1), match.group(2), match.group(3)
        if bare == "OR" and not minus:
            pending_or = bool(parsed.groups)
            continue
        words = tuple(word.lower() for word in _WORD.findall(quoted if quoted is not None else bare))[:budget]
        if not words:
            continue
        budget -= len(words)
        item = Item(words)
        if minus:
            parsed.excluded.append(item)
            still_typing = False
        else:
            if pending_or:
                parsed.groups[-1].append(item)
            else:
                parsed.groups.append([item])
            # A bare word, or a phrase whose closing quote is not typed yet.
            still_typing = quoted is None or not match.group(0).endswith('"')
        pending_or = False
        if budget <= 0:
            still_typing &= match.end() >= len(query.rstrip())
            break
    if parsed.groups and still_typing:  # still being typed: its last word is a prefix
        last = parsed.groups[-1][-1]
        parsed.groups[-1][-1] = Item(last.words, prefix=True)
    return parsed


def search_terms(query: str) -> list[str]:
    """The words a query looks for (letters and digits only), lowercased, at most MAX_TERMS."""
    return parse_query(query).terms


def _tsquery_text(parsed: ParsedQuery, *, positions: bool) -> str:
    """Every word single-quoted (words are letters and digits only), the prefix with :*; with
    `positions` a phrase's words follow each other (<->) and excluded phrases count, without them
    (an index with no positions) a phrase is all its words and an excluded phrase is left out."""
    joiner = " <-> " if positions else " & "

    def item(it: Item) -> str:
        lexemes = [f"'{word}'" for word in it.words]
        if it.prefix:
            lexemes[-1] += ":*"
        return lexemes[0] if len(lexemes) == 1 else "(" + joiner.join(lexemes) + ")"

    parts = [item(group[0]) if len(group) == 1 else "(" + " | ".join(item(it) for it in group) + ")"
             for group in parsed.groups]
    parts += ["!" + item(it) for it in parsed.excluded if positions or len(it.words) == 1]
    return " & ".join(parts)


def to_tsquery_text(parsed: ParsedQuery) -> str:
    """The query for PostgreSQL's to_tsquery('simple', …): phrases with <->, the prefix with :*."""
    return _tsquery_text(parsed, positions=True)


def to_fts5_text(parsed: ParsedQuery, column: str, owner_hex: str) -> str:
    """An FTS5 expression limited to one owner's rows (the indexed user_id column): each item is a
    double-quoted string of words (a phrase when several), the prefix marked with *."""
    def item(it: Item) -> str:
        return '"' + " ".join(it.words) + '"' + (" *" if it.prefix else "")

    wanted = " AND ".join(item(group[0]) if len(group) == 1 else "(" + " OR ".join(item(it) for it in group) + ")"
                          for group in parsed.groups)
    expression = f'(user_id : "{owner_hex}" AND {column} : ({wanted}))'
    if parsed.excluded:
        expression += f" NOT {column} : (" + " OR ".join(item(it) for it in parsed.excluded) + ")"
    return expression


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
    """Ranked matches in the user's own message texts and titles.
    Only current messages: text replaced by an edit or a regenerate is no longer "in" the conversation."""
    parsed = parse_query(query)
    terms = parsed.terms
    page = max(1, min(page, 500))
    if not terms:
        return SearchResults(query, terms, [], [], page, False)
    if db.engine.dialect.name == "postgresql":
        hits, has_more = _messages_postgresql(user, parsed, page)
        titles = _titles_postgresql(user, parsed, TITLE_HITS) if page == 1 else []
    else:
        hits, has_more = _messages_sqlite(user, parsed, page)
        titles = _titles_sqlite(user, parsed, TITLE_HITS) if page == 1 else []
    return SearchResults(query, terms, titles, hits, page, has_more)


def matching_titles(user, query: str, limit: int = FILTER_TITLES) -> list[TitleHit]:
    """The user's conversations whose title matches the query (the sidebar's filter), best first."""
    parsed = parse_query(query)
    if not parsed.terms:
        return []
    if db.engine.dialect.name == "postgresql":
        return _titles_postgresql(user, parsed, limit)
    return _titles_sqlite(user, parsed, limit)


def _as_uuid(value) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _as_datetime(value) -> datetime:
    from datetime import UTC

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# --- PostgreSQL ------------------------------------------------------------------------------------

# How a search finds the owner's newest matches (migration 0018), chosen per query:
# - "walk": the owner's current messages newest first (ix_nexus_messages_user_newest), each checked
#   against the query, until RANKED_CANDIDATES match. Cheap when many messages match (a common word
#   needs a few thousand rows), hopeless when few do (every message of the owner is read).
# - "index": the owner's lexemes in their own GIN index (ix_nexus_messages_owner_search over
#   nexus_owner_lexemes(): each lexeme tagged with the owner), then every match is read and the
#   newest kept. Cheap when few match, whatever the words: a prefix walks one owner's keys, not
#   every user's. Costs a read per match, so not for a common word.
# A probe of the owner's newest PROBE_ROWS messages tells how often the query matches; with the
# planner's estimate of how many messages the owner has, that gives each way's expected rows.
PROBE_ROWS = 1000
# Reading a match through the index costs about four times a walked row (a page per match or so,
# where a walk reads a conversation's messages from the same pages); measured with bench/search.py.
WALK_ROW_COST, INDEX_ROW_COST = 1.0, 4.0
# A walk stops after this many times the rows it was expected to read, and the index answers
# instead (the newest messages matched more often than the older ones).
WALK_SLACK = 4


def to_index_tsquery_text(parsed: ParsedQuery) -> str:
    """The query the owner index answers: no positions are indexed, so a phrase becomes all its
    words and an excluded phrase is left out. It matches every row the query matches (and a few
    more); each row is then checked against the query itself."""
    return _tsquery_text(parsed, positions=False)


# For this transaction only: plan each search for its own words (psycopg prepares a statement run
# five times; a generic plan cannot tell a rare word from a common one), price random reads as the
# cached pages they are (else the probe may walk the whole table's primary key newest first,
# filtering on user_id, rather than the owner's own index), no parallel workers and no JIT (their
# start costs more than these reads; the owner function's COST makes plans look expensive enough
# to compile: +35 ms).
POSTGRESQL_PLANNING = (
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), set_config('random_page_cost', '1.1', true), "
    "set_config('max_parallel_workers_per_gather', '0', true), set_config('jit', 'off', true)")
# Of the owner's newest messages: how many match the query, and the index's superset of it.
POSTGRESQL_PROBE = (
    "SELECT count(*) AS seen, "
    "  count(*) FILTER (WHERE search_vector @@ to_tsquery('simple', :q)) AS hits, "
    "  count(*) FILTER (WHERE search_vector @@ to_tsquery('simple', :index_q)) AS index_hits, "
    "  CASE WHEN count(*) = :probe AND count(*) FILTER (WHERE search_vector @@ to_tsquery('simple', :q)) > 0 "
    "    THEN nexus_owner_messages_estimate(:user_id) END AS owner_rows "
    "FROM (SELECT search_vector FROM nexus_messages WHERE user_id = :user_id AND superseded_by_id IS NULL "
    "      ORDER BY id DESC LIMIT :probe) AS newest")

# The walk: the owner's newest :walk current messages, the matching ones kept until there are
# enough. When fewer match, the walk stopped short if the owner has more messages than it read
# (asked only then: an index-only look past the bound), and the index answers instead.
CANDIDATES_WALK = (
    "SELECT id, conversation_id, role, created_at, search_vector FROM ("
    "  SELECT id, conversation_id, role, created_at, search_vector FROM nexus_messages"
    "  WHERE user_id = :user_id AND superseded_by_id IS NULL ORDER BY id DESC LIMIT :walk) AS newest "
    "WHERE search_vector @@ to_tsquery('simple', :q) "
    "ORDER BY id DESC LIMIT :candidates")
STOPPED_SHORT_WALK = (
    "CASE WHEN (SELECT count(*) FROM candidate) < :candidates THEN EXISTS ("
    "  SELECT 1 FROM nexus_messages WHERE user_id = :user_id AND superseded_by_id IS NULL"
    "  ORDER BY id DESC OFFSET :walk LIMIT 1) ELSE false END")
# The owner index: its keys are the owner's (tag collisions aside, which user_id rules out), its
# answer a superset that the query itself then narrows (phrases, excluded phrases).
CANDIDATES_INDEX = (
    "SELECT id, conversation_id, role, created_at, search_vector FROM nexus_messages "
    "WHERE nexus_owner_lexemes(user_id, search_vector) "
    "  @@ nexus_owner_tsquery(:user_id, to_tsquery('simple', :index_q)) "
    "  AND superseded_by_id IS NULL AND user_id = :user_id AND search_vector @@ to_tsquery('simple', :q) "
    "ORDER BY id DESC LIMIT :candidates")
CANDIDATES = {"walk": (CANDIDATES_WALK, STOPPED_SHORT_WALK), "index": (CANDIDATES_INDEX, "false")}

# The newest matches, capped, then ranked; the conversation titles and the snippets are read only
# for the page shown. One row at least, to say whether a walk stopped short.
POSTGRESQL_MESSAGES = (
    "WITH candidate AS MATERIALIZED ({candidates}), "
    "ranked AS ("
    "  SELECT id, conversation_id, role, created_at, ts_rank(search_vector, to_tsquery('simple', :q)) AS rank"
    "  FROM candidate"
    "  ORDER BY rank DESC, id DESC LIMIT :limit OFFSET :offset), "
    "page AS ("
    "  SELECT r.id, r.conversation_id, r.role, r.created_at, r.rank, c.title, "
    f"   ts_headline('simple', left(m.content, {SNIPPET_SOURCE_CHARS}), to_tsquery('simple', :q), "
    "     'StartSel=\x02, StopSel=\x03, MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter=\" … \"') "
    "   AS snippet "
    "  FROM ranked r JOIN nexus_conversations c ON c.id = r.conversation_id "
    "  JOIN nexus_messages m ON m.id = r.id) "
    "SELECT {stopped_short} AS stopped_short, page.* "
    "FROM (SELECT 1) AS one LEFT JOIN page ON true "
    "ORDER BY page.rank DESC, page.id DESC")


@dataclass(frozen=True)
class Probe:
    """Of the owner's newest PROBE_ROWS current messages: how many were read, how many match the
    query, how many the owner index would return for it; and the planner's estimate of the
    owner's current messages (when the choice needs it)."""

    seen: int
    hits: int
    index_hits: int
    owner_rows: float | None = None


def choose_ways(probe: Probe) -> list[tuple[str, int]]:
    """The ways to try in turn, as (way, walk bound), the cheaper expected first; only a walk can
    stop short, so the list ends with a way that always completes."""
    if probe.seen < PROBE_ROWS:  # the probe read all of them: so will a walk
        return [("walk", PROBE_ROWS)]
    if probe.hits == 0:
        return [("index", 0)]
    owner = max(probe.owner_rows or 0, probe.seen)
    walk_rows = min(RANKED_CANDIDATES * probe.seen / probe.hits, owner)
    index_rows = owner * probe.index_hits / probe.seen
    if WALK_ROW_COST * walk_rows <= INDEX_ROW_COST * index_rows:
        return [("walk", math.ceil(WALK_SLACK * walk_rows)), ("index", 0)]
    return [("index", 0)]


def postgresql_messages_statement(user_id, parsed: ParsedQuery, way: str, walk: int = 0,
                                  page: int = 1) -> tuple[str, dict]:
    """The SQL and parameters of one page of message hits found one way (bench/search.py prints
    its plan)."""
    candidates, stopped_short = CANDIDATES[way]
    return POSTGRESQL_MESSAGES.format(candidates=candidates, stopped_short=stopped_short), {
        "user_id": user_id, "q": to_tsquery_text(parsed), "index_q": to_index_tsquery_text(parsed),
        "candidates": RANKED_CANDIDATES, "walk": walk, "limit": PAGE_SIZE + 1, "offset": (page - 1) * PAGE_SIZE}


def postgresql_ways(user_id, parsed: ParsedQuery) -> list[tuple[str, int]]:
    """Set this transaction's planner settings, probe the owner's newest messages, and choose the
    ways to find the candidates."""
    db.session.execute(text(POSTGRESQL_PLANNING))
    probe = Probe(*db.session.execute(text(POSTGRESQL_PROBE), {
        "user_id": user_id, "q": to_tsquery_text(parsed), "index_q": to_index_tsquery_text(parsed),
        "probe": PROBE_ROWS}).one())
    return choose_ways(probe)


def _messages_postgresql(user, parsed: ParsedQuery, page: int):
    for way, walk in postgresql_ways(user.id, parsed):
        statement, params = postgresql_messages_statement(user.id, parsed, way, walk, page)
        rows = db.session.execute(text(statement), params).all()
        if not rows[0].stopped_short:
            break
    rows = [r for r in rows if r.id is not None]
    hits = [MessageHit(r.id, r.conversation_id, r.title, r.role, _as_datetime(r.created_at),
                       highlight(r.snippet or "")) for r in rows[:PAGE_SIZE]]
    return hits, len(rows) > PAGE_SIZE


def _titles_postgresql(user, parsed: ParsedQuery, limit: int) -> list[TitleHit]:
    title_rows = db.session.execute(text(
        "SELECT id, title FROM nexus_conversations "
        "WHERE user_id = :user_id AND search_vector @@ to_tsquery('simple', :q) "
        "ORDER BY ts_rank(search_vector, to_tsquery('simple', :q)) DESC, last_activity_at DESC LIMIT :limit"),
        {"user_id": user.id, "q": to_tsquery_text(parsed), "limit": limit}).all()
    return [TitleHit(r.id, _highlight_title(r.title, parsed.terms)) for r in title_rows]


# --- SQLite ----------------------------------------------------------------------------------------

# FTS5 walks the owner's matches newest first (rowid order) and stops at the cap; bm25 scores only
# those, the owner column weighted 0. Replaced messages are dropped after the cap, as their rows
# stay in the index.
SQLITE_MESSAGES = (
    "WITH candidate AS MATERIALIZED ("
    "  SELECT rowid, bm25(message_fts, 1.0, 0.0) AS rank FROM message_fts WHERE message_fts MATCH :match"
    "  ORDER BY rowid DESC LIMIT :candidates), "
    "ranked AS ("
    "  SELECT m.rowid AS fts_rowid, m.id, m.conversation_id, m.role, m.created_at, candidate.rank"
    "  FROM candidate JOIN nexus_messages m ON m.rowid = candidate.rowid"
    "  WHERE m.user_id = :owner AND m.superseded_by_id IS NULL"
    "  ORDER BY candidate.rank, m.id DESC LIMIT :limit OFFSET :offset) "
    "SELECT r.fts_rowid, r.id, r.conversation_id, r.role, r.created_at, c.title "
    "FROM ranked r JOIN nexus_conversations c ON c.id = r.conversation_id ORDER BY r.rank, r.id DESC")


def _messages_sqlite(user, parsed: ParsedQuery, page: int):
    owner = user.id.hex  # how the Uuid type stores ids in SQLite
    match = to_fts5_text(parsed, "content", owner)
    rows = db.session.execute(text(SQLITE_MESSAGES), {
        "match": match, "owner": owner, "limit": PAGE_SIZE + 1, "offset": (page - 1) * PAGE_SIZE,
        "candidates": RANKED_CANDIDATES}).all()
    shown = rows[:PAGE_SIZE]
    snippets = {}
    if shown:
        # FTS5 answers `rowid IN (…)` beside MATCH by re-running the match once per rowid (~10 ms
        # each for a common word); a rowid range is one pass. `+rowid` keeps the list out of FTS5.
        rowids = [int(r.fts_rowid) for r in shown]
        snippet_rows = db.session.execute(text(
            "SELECT rowid, snippet(message_fts, 0, char(2), char(3), ' … ', 28) FROM message_fts "
            "WHERE message_fts MATCH :match AND rowid BETWEEN :low AND :high "
            f"AND +rowid IN ({','.join(str(r) for r in rowids)})"),
            {"match": match, "low": min(rowids), "high": max(rowids)}).all()
        snippets = {int(r[0]): highlight(r[1] or "") for r in snippet_rows}
    hits = [MessageHit(_as_uuid(r.id), _as_uuid(r.conversation_id), r.title, r.role, _as_datetime(r.created_at),
                       snippets.get(int(r.fts_rowid), "")) for r in shown]
    return hits, len(rows) > PAGE_SIZE


def _titles_sqlite(user, parsed: ParsedQuery, limit: int) -> list[TitleHit]:
    owner = user.id.hex
    title_rows = db.session.execute(text(
        "SELECT c.id, c.title FROM conversation_fts JOIN nexus_conversations c ON c.rowid = conversation_fts.rowid "
        "WHERE conversation_fts MATCH :match AND c.user_id = :owner "
        "ORDER BY bm25(conversation_fts, 1.0, 0.0), c.last_activity_at DESC LIMIT :limit"),
        {"match": to_fts5_text(parsed, "title", owner), "owner": owner, "limit": limit}).all()
    return [TitleHit(_as_uuid(r.id), _highlight_title(r.title, parsed.terms)) for r in title_rows]
