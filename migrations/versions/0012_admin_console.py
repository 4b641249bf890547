"""The admin console (issue 14): daily usage roll-ups (seed 000 `cost_aggregations`), accounts that
wait for approval (users.approval_status), feedback reviews (reviewed_by, reviewed_at,
resolution_notes), and navigation items for the feedback and sign-up queues. The roll-ups are
filled from the calls already recorded.

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

NEW_NAVIGATION = [
    # label, icon, link, position
    ("Feedback", "message", "/admin/feedback", 145),
    ("Sign-ups", "user-plus", "/admin/signups", 105),
]


def upgrade():
    op.create_table('cost_aggregations',
    sa.Column('aggregation_type', sa.String(length=20), nullable=False),
    sa.Column('aggregation_date', sa.Date(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('provider', sa.String(length=30), nullable=False),
    sa.Column('model_id', sa.String(length=200), nullable=False),
    sa.Column('task_type', sa.String(length=30), nullable=False),
    sa.Column('bucket_key', sa.String(length=320), nullable=False),
    sa.Column('request_count', sa.Integer(), nullable=False),
    sa.Column('success_count', sa.Integer(), nullable=False),
    sa.Column('error_count', sa.Integer(), nullable=False),
    sa.Column('total_tokens', sa.BigInteger(), nullable=False),
    sa.Column('total_input_tokens', sa.BigInteger(), nullable=False),
    sa.Column('total_output_tokens', sa.BigInteger(), nullable=False),
    sa.Column('total_cost_usd', sa.Numeric(precision=18, scale=10), nullable=False),
    sa.Column('total_latency_ms', sa.BigInteger(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_cost_aggregations_user_id_users'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cost_aggregations')),
    sa.UniqueConstraint('bucket_key', name=op.f('uq_cost_aggregations_bucket_key'))
    )
    op.create_index('ix_cost_aggregations_date', 'cost_aggregations', ['aggregation_date'], unique=False)
    op.create_index('ix_cost_aggregations_user_date', 'cost_aggregations', ['user_id', 'aggregation_date'],
                    unique=False)

    if op.get_bind().dialect.name == 'sqlite':
        # Not batch mode: rebuilding `users` would drop it, and with foreign keys on that deletes
        # (or nulls) every row that points at an account. SQLite adds a column with its CHECK in place.
        op.execute("ALTER TABLE users ADD COLUMN approval_status VARCHAR(20) DEFAULT 'approved' NOT NULL "
                   "CONSTRAINT ck_users_approval_status_known "
                   "CHECK (approval_status IN ('approved', 'pending', 'rejected'))")
    else:
        op.add_column('users', sa.Column('approval_status', sa.String(length=20), server_default='approved',
                                         nullable=False))
        op.create_check_constraint(op.f('ck_users_approval_status_known'), 'users',
                                   "approval_status IN ('approved', 'pending', 'rejected')")

    with op.batch_alter_table('feedback_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reviewed_by', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('resolution_notes', sa.Text(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_feedback_items_reviewed_by_users'), 'users', ['reviewed_by'],
                                    ['id'], ondelete='SET NULL')
        batch_op.create_index('ix_feedback_items_category_created', ['category', 'created_at'], unique=False)

    _seed_navigation()
    _fill_rollups()


def _seed_navigation():
    """The admin's new queues under the Admin heading (skipped if an admin already linked them)."""
    bind = op.get_bind()
    parent_id = bind.execute(sa.text("SELECT id FROM navigation_items WHERE link = '/admin'")).scalar()
    next_id = bind.execute(sa.text("SELECT COALESCE(MAX(id), 0) FROM navigation_items")).scalar()
    for label, icon, link, position in NEW_NAVIGATION:
        if bind.execute(sa.text("SELECT 1 FROM navigation_items WHERE link = :link"), {"link": link}).scalar():
            continue
        next_id += 1
        bind.execute(sa.text(
            "INSERT INTO navigation_items (id, label, icon, link, parent_id, requires_role, position, is_active, "
            "type) VALUES (:id, :label, :icon, :link, :parent_id, 'admin', :position, :active, 'link')"),
            {"id": next_id, "label": label, "icon": icon, "link": link, "parent_id": parent_id,
             "position": position, "active": True})
    if bind.dialect.name == 'postgresql':
        op.execute("SELECT setval(pg_get_serial_sequence('navigation_items', 'id'), "
                   "(SELECT MAX(id) FROM navigation_items))")


def _fill_rollups():
    """Roll up the calls recorded before this migration (one row per day, user, provider, model, task)."""
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        day = "CAST(requested_at AT TIME ZONE 'UTC' AS DATE)"
        key = ("CAST(day AS TEXT) || '|' || COALESCE(CAST(user_id AS TEXT), '-') || '|' || provider || '|' "
               "|| model_name || '|' || task_type")
        new_id = "gen_random_uuid()"
    else:
        day = "date(requested_at)"
        # SQLite stores UUIDs as 32 hex digits; the key spells them with dashes, as Python does.
        user_text = ("lower(substr(hex_id, 1, 8) || '-' || substr(hex_id, 9, 4) || '-' || substr(hex_id, 13, 4) "
                     "|| '-' || substr(hex_id, 17, 4) || '-' || substr(hex_id, 21, 12))")
        key = (f"day || '|' || COALESCE({user_text}, '-') || '|' || provider || '|' || model_name || '|' "
               "|| task_type")
        new_id = "lower(hex(randomblob(16)))"
    op.execute(f"""
        INSERT INTO cost_aggregations (id, aggregation_type, aggregation_date, user_id, provider, model_id,
            task_type, bucket_key, request_count, success_count, error_count, total_tokens, total_input_tokens,
            total_output_tokens, total_cost_usd, total_latency_ms, created_at, updated_at)
        SELECT {new_id}, 'daily', day, user_id, provider, model_name, task_type, {key}, requests, successes,
               errors, tokens, input_tokens, output_tokens, cost, latency, last_at, last_at
        FROM (SELECT {day} AS day, user_id, user_id AS hex_id, provider, model_name,
                     COALESCE(task_type, 'chat') AS task_type, COUNT(*) AS requests,
                     SUM(CASE WHEN status = 'success' THEN 1 ELSE 0 END) AS successes,
                     SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS errors,
                     COALESCE(SUM(total_tokens), 0) AS tokens, COALESCE(SUM(input_tokens), 0) AS input_tokens,
                     COALESCE(SUM(output_tokens), 0) AS output_tokens, COALESCE(SUM(total_cost_usd), 0) AS cost,
                     COALESCE(SUM(latency_ms), 0) AS latency, MAX(responded_at) AS last_at
              FROM model_requests WHERE responded_at IS NOT NULL
              GROUP BY {day}, user_id, provider, model_name, COALESCE(task_type, 'chat')) AS calls
    """)


def downgrade():
    op.execute("DELETE FROM navigation_items WHERE link IN ('/admin/feedback', '/admin/signups')")
    with op.batch_alter_table('feedback_items', schema=None) as batch_op:
        batch_op.drop_index('ix_feedback_items_category_created')
        batch_op.drop_constraint(batch_op.f('fk_feedback_items_reviewed_by_users'), type_='foreignkey')
        batch_op.drop_column('resolution_notes')
        batch_op.drop_column('reviewed_at')
        batch_op.drop_column('reviewed_by')
    if op.get_bind().dialect.name == 'sqlite':
        op.execute("ALTER TABLE users DROP COLUMN approval_status")
    else:
        op.drop_constraint(op.f('ck_users_approval_status_known'), 'users', type_='check')
        op.drop_column('users', 'approval_status')
    op.drop_index('ix_cost_aggregations_user_date', table_name='cost_aggregations')
    op.drop_index('ix_cost_aggregations_date', table_name='cost_aggregations')
    op.drop_table('cost_aggregations')
