"""Models that think before they speak: each model's first-token and idle limits and the reasoning
options it accepts, an answer's reasoning options, and the reasoning tokens a call reported.

Columns with a CHECK are added in one ALTER TABLE … ADD COLUMN … CHECK, which SQLite and PostgreSQL
both take (SQLite cannot add a constraint to an existing table without rebuilding it).

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

CHECKED_COLUMNS = (
    ('ai_models', 'first_token_timeout_seconds', 'INTEGER DEFAULT 300 NOT NULL',
     'ck_ai_models_first_token_timeout_range', 'first_token_timeout_seconds BETWEEN 1 AND 3600'),
    ('ai_models', 'idle_timeout_seconds', 'INTEGER DEFAULT 120 NOT NULL',
     'ck_ai_models_idle_timeout_range', 'idle_timeout_seconds BETWEEN 1 AND 3600'),
    ('ai_options', 'reasoning_effort', 'VARCHAR(10)',
     'ck_ai_options_reasoning_effort_known',
     "reasoning_effort IS NULL OR reasoning_effort IN ('low', 'medium', 'high')"),
    ('ai_options', 'thinking_budget_tokens', 'INTEGER',
     'ck_ai_options_thinking_budget_range',
     'thinking_budget_tokens IS NULL OR (thinking_budget_tokens >= 1024 AND thinking_budget_tokens <= 128000)'),
)


def upgrade():
    for table, column, type_, name, condition in CHECKED_COLUMNS:
        op.execute(f'ALTER TABLE {table} ADD COLUMN {column} {type_} CONSTRAINT {name} CHECK ({condition})')
    op.add_column('ai_models', sa.Column('accepts_reasoning_effort', sa.Boolean(), server_default=sa.false(),
                                         nullable=False))
    op.add_column('ai_models', sa.Column('accepts_thinking_budget', sa.Boolean(), server_default=sa.false(),
                                         nullable=False))
    op.add_column('model_requests', sa.Column('reasoning_tokens', sa.Integer(), nullable=True))


def downgrade():
    op.drop_column('model_requests', 'reasoning_tokens')
    op.drop_column('ai_models', 'accepts_thinking_budget')
    op.drop_column('ai_models', 'accepts_reasoning_effort')
    for table, column, _type, name, _condition in reversed(CHECKED_COLUMNS):
        if op.get_bind().dialect.name == 'postgresql':
            op.drop_constraint(name, table, type_='check')
        op.drop_column(table, column)
