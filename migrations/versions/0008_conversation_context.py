"""Conversation context that fits the model: running summaries of the turns left out, the
per-conversation switch for them, the admin's summary model, what each answer left out, and each
call's estimated input (to calibrate the token estimate against what providers report).

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('ai_models', sa.Column('is_summary_model', sa.Boolean(), server_default=sa.false(),
                                         nullable=False))
    op.add_column('nexus_conversations', sa.Column('is_summary_enabled', sa.Boolean(), server_default=sa.false(),
                                                   nullable=False))
    # Plain ADD COLUMN, no foreign key: a batch rebuild of nexus_messages on SQLite would drop the
    # full-text triggers (see 0005 and 0006).
    op.add_column('nexus_messages', sa.Column('context_left_out_count', sa.Integer(), nullable=True))
    op.add_column('nexus_messages', sa.Column('context_summary_id', sa.Uuid(), nullable=True))
    op.add_column('model_requests', sa.Column('estimated_input_tokens', sa.Integer(), nullable=True))
    op.create_index('ix_model_requests_model_requested', 'model_requests', ['ai_model_id', 'requested_at'],
                    unique=False)
    op.create_table('nexus_conversation_summaries',
    sa.Column('conversation_id', sa.Uuid(), nullable=False),
    sa.Column('summary_text', sa.Text(), nullable=False),
    sa.Column('summary_model', sa.String(length=200), nullable=True),
    sa.Column('summary_length_tokens', sa.Integer(), nullable=True),
    sa.Column('covers_through_message_id', sa.Uuid(), nullable=False),
    sa.Column('covered_message_count', sa.Integer(), nullable=False),
    sa.Column('model_request_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['nexus_conversations.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['model_request_id'], ['model_requests.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_nexus_conversation_summaries_conversation', 'nexus_conversation_summaries',
                    ['conversation_id', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_nexus_conversation_summaries_conversation', table_name='nexus_conversation_summaries')
    op.drop_table('nexus_conversation_summaries')
    op.drop_index('ix_model_requests_model_requested', table_name='model_requests')
    op.drop_column('model_requests', 'estimated_input_tokens')
    op.drop_column('nexus_messages', 'context_summary_id')
    op.drop_column('nexus_messages', 'context_left_out_count')
    op.drop_column('nexus_conversations', 'is_summary_enabled')
    op.drop_column('ai_models', 'is_summary_model')
