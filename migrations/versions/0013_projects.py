"""Projects and validation: projects, their files (by content hash), validation runs, findings
(project_errors), checkpoints and their files, rollback events. The Projects navigation item
was seeded by 0001 and shows once /projects exists.

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('projects',
    sa.Column('owner_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('health_score', sa.Integer(), nullable=True),
    sa.Column('schema_status', sa.String(length=20), nullable=False),
    sa.Column('sheriff_status', sa.String(length=20), nullable=False),
    sa.Column('gauntlet_status', sa.String(length=20), nullable=False),
    sa.Column('last_validated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error_count', sa.Integer(), nullable=False),
    sa.Column('warning_count', sa.Integer(), nullable=False),
    sa.Column('validation_count', sa.Integer(), nullable=False),
    sa.Column('file_count', sa.Integer(), nullable=False),
    sa.Column('total_size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('is_gauntlet_enabled', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('last_activity_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('metadata', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
        nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('error_count >= 0 AND warning_count >= 0 AND validation_count >= 0 AND file_count >= 0 '
                       'AND total_size_bytes >= 0', name=op.f('ck_projects_counts_not_negative')),
    sa.CheckConstraint('health_score IS NULL OR health_score BETWEEN 0 AND 100',
        name=op.f('ck_projects_health_score_range')),
    sa.CheckConstraint('length(description) <= 2000', name=op.f('ck_projects_description_length')),
    sa.CheckConstraint('length(name) BETWEEN 1 AND 120', name=op.f('ck_projects_name_length')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_projects_owner_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_projects'))
    )
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.create_index('ix_projects_owner', ['owner_id', 'created_at'], unique=False)

    op.create_table('checkpoints',
    sa.Column('project_id', sa.Uuid(), nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('schema_version', sa.String(length=20), nullable=False),
    sa.Column('file_count', sa.Integer(), nullable=False),
    sa.Column('total_size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('storage_path', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('is_deleted', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('metadata', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
        nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_checkpoints_created_by_users'),
        ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_checkpoints_project_id_projects'),
        ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checkpoints'))
    )
    with op.batch_alter_table('checkpoints', schema=None) as batch_op:
        batch_op.create_index('ix_checkpoints_project', ['project_id', 'created_at'], unique=False)

    op.create_table('project_files',
    sa.Column('project_id', sa.Uuid(), nullable=False),
    sa.Column('path', sa.String(length=500), nullable=False),
    sa.Column('file_hash', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.CheckConstraint('size_bytes >= 0', name=op.f('ck_project_files_size_not_negative')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_project_files_project_id_projects'),
        ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_project_files')),
    sa.UniqueConstraint('project_id', 'path', name='uq_project_files_project_path')
    )
    op.create_table('validation_runs',
    sa.Column('project_id', sa.Uuid(), nullable=False),
    sa.Column('job_id', sa.Uuid(), nullable=True),
    sa.Column('run_type', sa.String(length=40), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('errors_found', sa.Integer(), nullable=False),
    sa.Column('warnings_found', sa.Integer(), nullable=False),
    sa.Column('triggered_by', sa.Uuid(), nullable=True),
    sa.Column('trigger_source', sa.String(length=20), nullable=False),
    sa.Column('summary', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('metadata', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
        nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')",
        name=op.f('ck_validation_runs_status_known')),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_validation_runs_job_id_jobs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_validation_runs_project_id_projects'),
        ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['triggered_by'], ['users.id'], name=op.f('fk_validation_runs_triggered_by_users'),
        ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_validation_runs'))
    )
    with op.batch_alter_table('validation_runs', schema=None) as batch_op:
        batch_op.create_index('ix_validation_runs_project', ['project_id', 'started_at'], unique=False)

    op.create_table('checkpoint_files',
    sa.Column('checkpoint_id', sa.Uuid(), nullable=False),
    sa.Column('file_path', sa.String(length=500), nullable=False),
    sa.Column('file_hash', sa.String(length=64), nullable=False),
    sa.Column('file_size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('storage_key', sa.String(length=200), nullable=False),
    sa.Column('metadata', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
        nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['checkpoint_id'], ['checkpoints.id'],
        name=op.f('fk_checkpoint_files_checkpoint_id_checkpoints'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checkpoint_files'))
    )
    with op.batch_alter_table('checkpoint_files', schema=None) as batch_op:
        batch_op.create_index('ix_checkpoint_files_checkpoint', ['checkpoint_id', 'file_path'], unique=False)

    op.create_table('project_errors',
    sa.Column('project_id', sa.Uuid(), nullable=False),
    sa.Column('run_id', sa.Uuid(), nullable=True),
    sa.Column('error_code', sa.String(length=60), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('file_path', sa.String(length=500), nullable=True),
    sa.Column('line_number', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.Uuid(), nullable=True),
    sa.Column('resolution_notes', sa.Text(), nullable=True),
    sa.Column('metadata', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
        nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("severity IN ('error', 'warning', 'info')", name=op.f('ck_project_errors_severity_known')),
    sa.CheckConstraint('(resolved_at IS NULL) = (resolved_by IS NULL)',
        name=op.f('ck_project_errors_resolved_by_iff_resolved')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_project_errors_project_id_projects'),
        ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['resolved_by'], ['users.id'], name=op.f('fk_project_errors_resolved_by_users'),
        ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['run_id'], ['validation_runs.id'],
        name=op.f('fk_project_errors_run_id_validation_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_project_errors'))
    )
    with op.batch_alter_table('project_errors', schema=None) as batch_op:
        batch_op.create_index('ix_project_errors_project', ['project_id', 'created_at'], unique=False)
        batch_op.create_index('ix_project_errors_run', ['run_id', 'severity', 'file_path'], unique=False)

    op.create_table('rollback_events',
    sa.Column('checkpoint_id', sa.Uuid(), nullable=True),
    sa.Column('project_id', sa.Uuid(), nullable=False),
    sa.Column('triggered_by', sa.Uuid(), nullable=True),
    sa.Column('trigger_reason', sa.String(length=200), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('files_restored', sa.Integer(), nullable=False),
    sa.Column('files_failed', sa.Integer(), nullable=False),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('metadata', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
        nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("status IN ('completed', 'failed')", name=op.f('ck_rollback_events_status_known')),
    sa.ForeignKeyConstraint(['checkpoint_id'], ['checkpoints.id'],
        name=op.f('fk_rollback_events_checkpoint_id_checkpoints'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_rollback_events_project_id_projects'),
        ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['triggered_by'], ['users.id'], name=op.f('fk_rollback_events_triggered_by_users'),
        ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rollback_events'))
    )
    with op.batch_alter_table('rollback_events', schema=None) as batch_op:
        batch_op.create_index('ix_rollback_events_project', ['project_id', 'started_at'], unique=False)



def downgrade():
    with op.batch_alter_table('rollback_events', schema=None) as batch_op:
        batch_op.drop_index('ix_rollback_events_project')

    op.drop_table('rollback_events')
    with op.batch_alter_table('project_errors', schema=None) as batch_op:
        batch_op.drop_index('ix_project_errors_run')
        batch_op.drop_index('ix_project_errors_project')

    op.drop_table('project_errors')
    with op.batch_alter_table('checkpoint_files', schema=None) as batch_op:
        batch_op.drop_index('ix_checkpoint_files_checkpoint')

    op.drop_table('checkpoint_files')
    with op.batch_alter_table('validation_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_validation_runs_project')

    op.drop_table('validation_runs')
    op.drop_table('project_files')
    with op.batch_alter_table('checkpoints', schema=None) as batch_op:
        batch_op.drop_index('ix_checkpoints_project')

    op.drop_table('checkpoints')
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.drop_index('ix_projects_owner')

    op.drop_table('projects')
