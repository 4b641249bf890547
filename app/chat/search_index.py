"""The full-text search structures that live outside the models: PostgreSQL generated `search_vector`
columns with GIN indexes, SQLite FTS5 tables kept by triggers (migration 0005), PostgreSQL's
per-owner newest-first index of current messages (migration 0017) and its index of owner-tagged
lexemes (migration 0018, which replaced ix_nexus_messages_search)."""

SEARCH_TABLE_PREFIXES = ("message_fts", "conversation_fts")
SEARCH_COLUMNS = {("nexus_messages", "search_vector"), ("nexus_conversations", "search_vector")}
SEARCH_INDEXES = {"ix_nexus_messages_search", "ix_nexus_conversations_search", "ix_nexus_messages_user_newest",
                  "ix_nexus_messages_owner_search"}


def is_search_index_object(name: str | None, type_: str, parent_table: str | None = None) -> bool:
    """True for the search structures, which the migration owns and the models do not describe."""
    if name is None:
        return False
    if type_ == "table":
        return name.startswith(SEARCH_TABLE_PREFIXES)
    if type_ == "column":
        return (parent_table, name) in SEARCH_COLUMNS
    if type_ == "index":
        return name in SEARCH_INDEXES
    return False
