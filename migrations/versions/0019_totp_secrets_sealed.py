"""Two-factor secrets encrypted at rest: `user_mfa_methods.secret` grows from 64 to 255 characters to
hold `v1:<Fernet token>` (about 143). No data changes here: the key comes from the app's SECRET_KEY
(or STUDIO_TOTP_ENCRYPTION_KEYS), which a migration does not have. Plain secrets keep working and
are sealed when they next accept a code, or all at once by `flask users encrypt-totp-secrets`.
Downgrading needs every secret in plain text again, so it refuses while any is sealed.

Revision ID: 0019
Revises: 0018
"""
import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user_mfa_methods') as batch:
        batch.alter_column('secret', existing_type=sa.String(length=64), type_=sa.String(length=255),
                           existing_nullable=False)


def downgrade():
    sealed = op.get_bind().scalar(sa.text("SELECT count(*) FROM user_mfa_methods WHERE secret LIKE 'v1:%'"))
    if sealed:
        raise RuntimeError(f"{sealed} two-factor secrets are encrypted; 0018 cannot hold them. Turn two-factor "
                           "sign-in off for those accounts first.")
    with op.batch_alter_table('user_mfa_methods') as batch:
        batch.alter_column('secret', existing_type=sa.String(length=255), type_=sa.String(length=64),
                           existing_nullable=False)
