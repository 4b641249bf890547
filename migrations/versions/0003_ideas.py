"""Ideas board: ideas, votes, notes.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('ideas',
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('description_html', sa.Text(), nullable=False),
    sa.Column('renderer_version', sa.Integer(), nullable=False),
    sa.Column('priority_level', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('vote_count', sa.Integer(), nullable=False),
    sa.Column('note_count', sa.Integer(), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_by', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(status = 'completed') = (completed_at IS NOT NULL)",
                       name=op.f('ck_ideas_completed_at_iff_completed')),
    sa.CheckConstraint("priority_level IN ('low', 'medium', 'high')", name=op.f('ck_ideas_priority_known')),
    sa.CheckConstraint("status IN ('new', 'planned', 'in_progress', 'completed', 'declined')",
                       name=op.f('ck_ideas_status_known')),
    sa.CheckConstraint('length(description) <= 10000', name=op.f('ck_ideas_description_length')),
    sa.CheckConstraint('length(title) BETWEEN 1 AND 200', name=op.f('ck_ideas_title_length')),
    sa.CheckConstraint('note_count >= 0', name=op.f('ck_ideas_note_count_not_negative')),
    sa.CheckConstraint('vote_count >= 0', name=op.f('ck_ideas_vote_count_not_negative')),
    sa.ForeignKeyConstraint(['completed_by'], ['users.id'], name=op.f('fk_ideas_completed_by_users'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_ideas_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ideas'))
    )
    with op.batch_alter_table('ideas', schema=None) as batch_op:
        batch_op.create_index('ix_ideas_created', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_ideas_status_created', ['status', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_ideas_status_votes', ['status', 'vote_count', 'id'], unique=False)
        batch_op.create_index('ix_ideas_user', ['user_id'], unique=False)
        batch_op.create_index('ix_ideas_votes', ['vote_count', 'id'], unique=False)

    op.create_table('idea_notes',
    sa.Column('idea_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('content_html', sa.Text(), nullable=False),
    sa.Column('renderer_version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.CheckConstraint('length(content) BETWEEN 1 AND 5000', name=op.f('ck_idea_notes_content_length')),
    sa.ForeignKeyConstraint(['idea_id'], ['ideas.id'], name=op.f('fk_idea_notes_idea_id_ideas'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_idea_notes_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idea_notes'))
    )
    with op.batch_alter_table('idea_notes', schema=None) as batch_op:
        batch_op.create_index('ix_idea_notes_idea', ['idea_id', 'id'], unique=False)

    op.create_table('idea_votes',
    sa.Column('idea_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['idea_id'], ['ideas.id'], name=op.f('fk_idea_votes_idea_id_ideas'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_idea_votes_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idea_votes')),
    sa.UniqueConstraint('idea_id', 'user_id', name='uq_idea_votes_idea_user')
    )
    with op.batch_alter_table('idea_votes', schema=None) as batch_op:
        batch_op.create_index('ix_idea_votes_user', ['user_id', 'idea_id'], unique=False)


def downgrade():
    with op.batch_alter_table('idea_votes', schema=None) as batch_op:
        batch_op.drop_index('ix_idea_votes_user')

    op.drop_table('idea_votes')
    with op.batch_alter_table('idea_notes', schema=None) as batch_op:
        batch_op.drop_index('ix_idea_notes_idea')

    op.drop_table('idea_notes')
    with op.batch_alter_table('ideas', schema=None) as batch_op:
        batch_op.drop_index('ix_ideas_votes')
        batch_op.drop_index('ix_ideas_user')
        batch_op.drop_index('ix_ideas_status_votes')
        batch_op.drop_index('ix_ideas_status_created')
        batch_op.drop_index('ix_ideas_created')

    op.drop_table('ideas')
