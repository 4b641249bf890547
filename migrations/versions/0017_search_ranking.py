"""Search ranking within budget (issue 16): each owner's current messages, newest first, in their own
index (PostgreSQL only). A search ranks the newest matches; for a common word the planner walks this
index until it has enough and reads no other user's rows (without it, its only newest-first path is
the primary key over every user's messages: 1.7 s for a user whose messages are old). SQLite's FTS5
index already holds the owner and walks rowids newest first.

Revision ID: 0017
Revises: 0016
"""
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_nexus_messages_user_newest ON nexus_messages (user_id, id) "
                   "WHERE superseded_by_id IS NULL")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_nexus_messages_user_newest")
