"""Navigation: "Plans" (/admin/plans) under Admin, where site admins edit plans and mark invoices paid
(issue 12, billing pages). Data only.

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

LINK = "/admin/plans"


def upgrade():
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT 1 FROM navigation_items WHERE link = :link"), {"link": LINK}).first():
        return  # an admin added it by hand already
    # Under the seeded "Admin" item when it is still there, after its other children.
    parent = bind.execute(sa.text(
        "SELECT id FROM navigation_items WHERE link = '/admin' AND parent_id IS NULL ORDER BY id LIMIT 1")).scalar()
    bind.execute(sa.text(
        "INSERT INTO navigation_items (label, icon, link, parent_id, requires_role, position, is_active, type) "
        "VALUES ('Plans', 'card', :link, :parent, 'admin', 150, :active, 'link')"),
        {"link": LINK, "parent": parent, "active": True})


def downgrade():
    op.get_bind().execute(sa.text("DELETE FROM navigation_items WHERE link = :link AND label = 'Plans'"),
                          {"link": LINK})
