"""Superseded messages: editing or regenerating keeps the earlier message, marked as replaced.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN, not a batch rebuild: on SQLite a rebuild of nexus_messages would drop the
    # full-text triggers and renumber the rowids that message_fts points at.
    op.add_column('nexus_messages', sa.Column('superseded_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('nexus_messages', sa.Column('superseded_by_id', sa.Uuid(), nullable=True))
    op.create_index('ix_nexus_messages_current', 'nexus_messages', ['conversation_id', 'id'], unique=False,
                    postgresql_where=sa.text('superseded_by_id IS NULL'),
                    sqlite_where=sa.text('superseded_by_id IS NULL'))
    op.create_index('ix_nexus_messages_superseded_by', 'nexus_messages', ['superseded_by_id'], unique=False,
                    postgresql_where=sa.text('superseded_by_id IS NOT NULL'),
                    sqlite_where=sa.text('superseded_by_id IS NOT NULL'))


def downgrade():
    # Going back loses the earlier versions: without the marks they would show up as current messages.
    op.execute("DELETE FROM nexus_messages WHERE superseded_by_id IS NOT NULL")
    op.drop_index('ix_nexus_messages_superseded_by', table_name='nexus_messages')
    op.drop_index('ix_nexus_messages_current', table_name='nexus_messages')
    op.drop_column('nexus_messages', 'superseded_by_id')
    op.drop_column('nexus_messages', 'superseded_at')
