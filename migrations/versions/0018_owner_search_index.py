"""Search by owner (issue 16, PostgreSQL only): each message's lexemes tagged with its owner, in
their own GIN index, which replaces the (user_id, search_vector) one of migration 0005. A prefix
(`w12:*`, what people type) is a partial match that reads every matching key's posting list: with
plain lexemes that was every user's `w12…` words, plus the whole list of the owner's user_id key;
with tagged ones (`<tag>.w12…`) it is one owner's keys. Writes pay for one message index, as before.

The tag is the owner id's last 8 hex digits: another owner may share it, so a search still filters
on user_id (exact), the tag only keeps the index scan to about one owner. The tagged vector has no
positions (a phrase is checked on the row), and it must stay a valid tsvector whatever the message:
a lexeme is at most 2,047 bytes and a vector 1 MB, so when the tags could pass the first, lexemes
are cut to 500 characters (a query word is at most 200), and past the second the message is indexed
under the bare tag, which nexus_owner_tsquery() adds to every query of that owner (the row is then
checked against the query). Both functions qualify nothing but pg_catalog's, so an index rebuilt
under an empty search_path (pg_restore) computes the same keys.

Revision ID: 0018
Revises: 0017
"""
from alembic import op
from sqlalchemy import text

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

OWNER_LEXEMES = r"""
CREATE FUNCTION nexus_owner_lexemes(owner uuid, vector tsvector) RETURNS tsvector
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE COST 1000 AS $$
  SELECT CASE
    WHEN length(vector) = 0 THEN vector
    WHEN octet_length(joined) + 4 * length(vector) >= 1000000 THEN array_to_tsvector(ARRAY[tag])
    WHEN octet_length(joined) - 10 * length(vector) < 2000 THEN array_to_tsvector(string_to_array(joined, E'\x01'))
    ELSE array_to_tsvector(ARRAY(SELECT tag || '.' || left(lexeme, 500)
                                 FROM unnest(tsvector_to_array(vector)) AS lexeme))
  END
  FROM (SELECT tag, tag || '.' || array_to_string(tsvector_to_array(vector), E'\x01' || tag || '.') AS joined
        FROM (SELECT right(owner::text, 8) AS tag) AS owner_tag) AS tagged
$$
"""
# The COST keeps the planner from checking rows against the function when the index can answer.

OWNER_TSQUERY = r"""
CREATE FUNCTION nexus_owner_tsquery(owner uuid, query tsquery) RETURNS tsquery
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT CASE WHEN numnode(query) = 0 THEN query ELSE
    ('(' || regexp_replace(query::text, '''((?:[^''\\]|''''|\\.)*)''', '''' || right(owner::text, 8) || '.\1''', 'g')
     || ') | ''' || right(owner::text, 8) || '''')::tsquery END
$$
"""

# The planner's estimate of an owner's current messages (EXPLAIN is the one way to ask for it): a
# search uses it to choose between walking the owner's messages and the index.
OWNER_MESSAGES_ESTIMATE = r"""
CREATE FUNCTION nexus_owner_messages_estimate(owner uuid) RETURNS double precision
LANGUAGE plpgsql VOLATILE AS $$
DECLARE plan json;
BEGIN
  EXECUTE 'EXPLAIN (FORMAT JSON) SELECT 1 FROM nexus_messages WHERE user_id = $1 AND superseded_by_id IS NULL'
    INTO plan USING owner;
  RETURN (plan -> 0 -> 'Plan' ->> 'Plan Rows')::double precision;
END
$$
"""


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(OWNER_LEXEMES)
    op.execute(OWNER_TSQUERY)
    op.execute(OWNER_MESSAGES_ESTIMATE)
    op.execute("CREATE INDEX ix_nexus_messages_owner_search ON nexus_messages "
               "USING gin (nexus_owner_lexemes(user_id, search_vector)) WHERE superseded_by_id IS NULL")
    op.execute("DROP INDEX IF EXISTS ix_nexus_messages_search")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    has_btree_gin = op.get_bind().execute(text("SELECT 1 FROM pg_extension WHERE extname = 'btree_gin'")).scalar()
    leading = "user_id, " if has_btree_gin else ""
    op.execute(f"CREATE INDEX ix_nexus_messages_search ON nexus_messages USING gin ({leading}search_vector)")
    op.execute("DROP INDEX IF EXISTS ix_nexus_messages_owner_search")
    op.execute("DROP FUNCTION IF EXISTS nexus_owner_tsquery(uuid, tsquery)")
    op.execute("DROP FUNCTION IF EXISTS nexus_owner_lexemes(uuid, tsvector)")
    op.execute("DROP FUNCTION IF EXISTS nexus_owner_messages_estimate(uuid)")
