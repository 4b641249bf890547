"""The schema comes only from migrations, and they match the models exactly."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

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
                name, type_, parents.get("table_name"))})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_migrations_seed_the_default_navigation(app):
    links = set(db.session.scalars(select(NavigationItem.link)))
    assert {"/chat", "/prompts", "/ideas", "/admin/users", "/admin/navigation", "/moderation/prompts"} <= links
