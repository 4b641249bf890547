"""Answers being written, indexed per person: the concurrent-answers limit counts them before every
new answer, and they are a handful among all messages, so a partial index keeps that count cheap.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_nexus_messages_in_progress', 'nexus_messages', ['user_id'], unique=False,
                    postgresql_where=sa.text("status IN ('streaming', 'pending')"),
                    sqlite_where=sa.text("status IN ('streaming', 'pending')"))


def downgrade():
    op.drop_index('ix_nexus_messages_in_progress', table_name='nexus_messages')
