"""The schema comes only from migrations, and they match the models exactly."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text

from app.chat.search_index import is_search_index_object
from app.extensions import db
from app.nav.models import NavigationItem

pytestmark = pytest.mark.postgres  # migrations and drift checks are per dialect


def test_migrated_database_has_no_drift_from_the_models(app):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "compare_type": True,
            # The search structures belong to migration 0005, not to the models.
            "include_name": lambda name, type_, parents: not is_search_index_object(
                name, type_, parents.get("table_name")),
            "include_object": _not_an_inline_sqlite_reference})
        differences = compare_metadata(context, db.metadata)
    assert differences == []
    if db.engine.dialect.name == "sqlite":
        for table, column in INLINE_SQLITE_REFERENCES:
            references = db.session.execute(text(f"PRAGMA foreign_key_list({table})")).all()
            assert ("tenant_accounts", column, "id", "SET NULL") in {
                (row[2], row[3], row[4], row[6]) for row in references}


# Migration 0015 adds these references to existing SQLite tables with ALTER TABLE ... ADD COLUMN ...
# REFERENCES (rebuilding the tables would cascade deletes), and SQLAlchemy reads neither the name nor
# the ON DELETE of an inline reference back. The drift test reads them with PRAGMA instead.
INLINE_SQLITE_REFERENCES = {("nexus_conversations", "tenant_id"), ("model_requests", "tenant_id")}


def _not_an_inline_sqlite_reference(object_, name, type_, reflected, compare_to):
    if type_ != "foreign_key_constraint" or db.engine.dialect.name != "sqlite":
        return True
    return (object_.parent.name, tuple(object_.column_keys)[0]) not in INLINE_SQLITE_REFERENCES


def test_migrations_seed_the_default_navigation(app):
    links = set(db.session.scalars(select(NavigationItem.link)))
    assert {"/chat", "/prompts", "/ideas", "/admin/users", "/admin/navigation", "/moderation/prompts"} <= links
