"""Prompt library: prompts (with the variables of seed 003 `nexus_templates`), tags, usage events, daily views.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('prompt_tags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prompt_tags')),
    sa.UniqueConstraint('name', name=op.f('uq_prompt_tags_name'))
    )
    op.create_table('prompt_library',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('variables', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
              nullable=False),
    sa.Column('visibility', sa.String(length=10), nullable=False),
    sa.Column('moderation_status', sa.String(length=10), nullable=False),
    sa.Column('moderation_reason', sa.Text(), nullable=True),
    sa.Column('moderated_by', sa.Uuid(), nullable=True),
    sa.Column('moderated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('source_message_id', sa.Uuid(), nullable=True),
    sa.Column('source_conversation_id', sa.Uuid(), nullable=True),
    sa.Column('view_count', sa.Integer(), nullable=False),
    sa.Column('use_count', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(visibility = 'private' AND moderation_status = 'none') OR "
                       "(visibility = 'public' AND moderation_status IN ('pending', 'approved', 'rejected'))",
                       name=op.f('ck_prompt_library_moderation_matches_visibility')),
    sa.CheckConstraint("moderation_status IN ('none', 'pending', 'approved', 'rejected')",
                       name=op.f('ck_prompt_library_moderation_status_known')),
    sa.CheckConstraint("visibility IN ('private', 'public')", name=op.f('ck_prompt_library_visibility_known')),
    sa.CheckConstraint('version > 0', name=op.f('ck_prompt_library_version_positive')),
    sa.CheckConstraint('view_count >= 0 AND use_count >= 0', name=op.f('ck_prompt_library_counts_not_negative')),
    sa.ForeignKeyConstraint(['moderated_by'], ['users.id'], name=op.f('fk_prompt_library_moderated_by_users'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['source_conversation_id'], ['nexus_conversations.id'],
                            name=op.f('fk_prompt_library_source_conversation_id_nexus_conversations'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['source_message_id'], ['nexus_messages.id'],
                            name=op.f('fk_prompt_library_source_message_id_nexus_messages'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_prompt_library_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prompt_library'))
    )
    with op.batch_alter_table('prompt_library', schema=None) as batch_op:
        batch_op.create_index('ix_prompt_library_status_created', ['moderation_status', 'created_at'], unique=False)
        batch_op.create_index('ix_prompt_library_status_submitted', ['moderation_status', 'submitted_at'], unique=False)
        batch_op.create_index('ix_prompt_library_status_uses', ['moderation_status', 'use_count'], unique=False)
        batch_op.create_index('ix_prompt_library_user_created', ['user_id', 'created_at'], unique=False)
        batch_op.create_index('ix_prompt_library_user_uses', ['user_id', 'use_count'], unique=False)

    op.create_table('prompt_library_tags',
    sa.Column('prompt_id', sa.Uuid(), nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['prompt_id'], ['prompt_library.id'],
                            name=op.f('fk_prompt_library_tags_prompt_id_prompt_library'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tag_id'], ['prompt_tags.id'], name=op.f('fk_prompt_library_tags_tag_id_prompt_tags'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('prompt_id', 'tag_id', name='pk_prompt_library_tags')
    )
    with op.batch_alter_table('prompt_library_tags', schema=None) as batch_op:
        batch_op.create_index('ix_prompt_library_tags_tag', ['tag_id', 'prompt_id'], unique=False)

    op.create_table('prompt_usage_events',
    sa.Column('prompt_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('event_type', sa.String(length=20), nullable=False),
    sa.Column('filled_content', sa.Text(), nullable=False),
    sa.Column('conversation_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("event_type IN ('use')", name=op.f('ck_prompt_usage_events_event_type_known')),
    sa.ForeignKeyConstraint(['conversation_id'], ['nexus_conversations.id'],
                            name=op.f('fk_prompt_usage_events_conversation_id_nexus_conversations'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['prompt_id'], ['prompt_library.id'],
                            name=op.f('fk_prompt_usage_events_prompt_id_prompt_library'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_prompt_usage_events_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prompt_usage_events'))
    )
    with op.batch_alter_table('prompt_usage_events', schema=None) as batch_op:
        batch_op.create_index('ix_prompt_usage_events_prompt_created', ['prompt_id', 'created_at'], unique=False)
        batch_op.create_index('ix_prompt_usage_events_user_created', ['user_id', 'created_at'], unique=False)

    op.create_table('prompt_views',
    sa.Column('prompt_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('viewed_on', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['prompt_id'], ['prompt_library.id'], name=op.f('fk_prompt_views_prompt_id_prompt_library'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_prompt_views_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('prompt_id', 'user_id', 'viewed_on', name=op.f('pk_prompt_views'))
    )


def downgrade():
    op.drop_table('prompt_views')
    with op.batch_alter_table('prompt_usage_events', schema=None) as batch_op:
        batch_op.drop_index('ix_prompt_usage_events_user_created')
        batch_op.drop_index('ix_prompt_usage_events_prompt_created')

    op.drop_table('prompt_usage_events')
    with op.batch_alter_table('prompt_library_tags', schema=None) as batch_op:
        batch_op.drop_index('ix_prompt_library_tags_tag')

    op.drop_table('prompt_library_tags')
    with op.batch_alter_table('prompt_library', schema=None) as batch_op:
        batch_op.drop_index('ix_prompt_library_user_uses')
        batch_op.drop_index('ix_prompt_library_user_created')
        batch_op.drop_index('ix_prompt_library_status_uses')
        batch_op.drop_index('ix_prompt_library_status_submitted')
        batch_op.drop_index('ix_prompt_library_status_created')

    op.drop_table('prompt_library')
    op.drop_table('prompt_tags')
