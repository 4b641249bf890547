"""Folders, share links, message owners, and full-text search (PostgreSQL tsvector + GIN; SQLite FTS5).

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('nexus_folders',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('parent_id', sa.Uuid(), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('color', sa.String(length=20), nullable=False),
    sa.Column('icon', sa.String(length=20), nullable=False),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.Column('is_expanded', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("color IN ('gray', 'blue', 'green', 'yellow', 'orange', 'red', 'purple', 'pink')",
                       name=op.f('ck_nexus_folders_color_known')),
    sa.CheckConstraint("icon IN ('folder', 'star', 'book', 'code', 'briefcase', 'flask', 'heart', 'bolt')",
                       name=op.f('ck_nexus_folders_icon_known')),
    sa.ForeignKeyConstraint(['parent_id'], ['nexus_folders.id'], name=op.f('fk_nexus_folders_parent_id_nexus_folders'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_nexus_folders_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_nexus_folders'))
    )
    with op.batch_alter_table('nexus_folders', schema=None) as batch_op:
        batch_op.create_index('ix_nexus_folders_user_parent', ['user_id', 'parent_id', 'sort_order'], unique=False)

    op.create_table('nexus_shares',
    sa.Column('conversation_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('share_token', sa.String(length=64), nullable=False),
    sa.Column('snapshot_message_id', sa.Uuid(), nullable=True),
    sa.Column('snapshot_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('view_count', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['nexus_conversations.id'],
                            name=op.f('fk_nexus_shares_conversation_id_nexus_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_nexus_shares_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_nexus_shares')),
    sa.UniqueConstraint('share_token', name=op.f('uq_nexus_shares_share_token'))
    )
    with op.batch_alter_table('nexus_shares', schema=None) as batch_op:
        batch_op.create_index('ix_nexus_shares_conversation', ['conversation_id'], unique=False)
        batch_op.create_index('ix_nexus_shares_user_created', ['user_id', 'created_at'], unique=False)

    with op.batch_alter_table('nexus_conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('folder_id', sa.Uuid(), nullable=True))
        batch_op.create_index('ix_nexus_conversations_folder',
                              ['folder_id', 'is_archived', 'is_pinned', 'last_activity_at'], unique=False)
        # The sidebar lists conversations outside folders: folder_id joins its index.
        batch_op.drop_index('ix_nexus_conversations_sidebar')
        batch_op.create_index('ix_nexus_conversations_sidebar',
                              ['user_id', 'is_archived', 'folder_id', 'is_pinned', 'last_activity_at', 'id'],
                              unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_nexus_conversations_folder_id_nexus_folders'), 'nexus_folders',
                                    ['folder_id'], ['id'], ondelete='SET NULL')

    # Every message gets its owner, copied from its conversation.
    with op.batch_alter_table('nexus_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('user_id', sa.Uuid(), nullable=True))
    op.execute("UPDATE nexus_messages SET user_id = (SELECT c.user_id FROM nexus_conversations c "
               "WHERE c.id = nexus_messages.conversation_id)")
    with op.batch_alter_table('nexus_messages', schema=None) as batch_op:
        batch_op.alter_column('user_id', existing_type=sa.Uuid(), nullable=False)
        batch_op.create_foreign_key(batch_op.f('fk_nexus_messages_user_id_users'), 'users', ['user_id'], ['id'],
                                    ondelete='CASCADE')

    if op.get_bind().dialect.name == "postgresql":
        _create_postgresql_search()
    else:
        _create_sqlite_search()


def _create_postgresql_search():
    # btree_gin lets one GIN index lead with user_id; without the extension, a GIN on the vector alone.
    op.execute("DO $$ BEGIN CREATE EXTENSION IF NOT EXISTS btree_gin; "
               "EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'btree_gin unavailable'; END $$")
    has_btree_gin = op.get_bind().execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'btree_gin'")).scalar()
    op.execute("ALTER TABLE nexus_messages ADD COLUMN search_vector tsvector GENERATED ALWAYS AS "
               "(to_tsvector('simple', left(coalesce(content, ''), 200000))) STORED")
    op.execute("ALTER TABLE nexus_conversations ADD COLUMN search_vector tsvector GENERATED ALWAYS AS "
               "(to_tsvector('simple', coalesce(title, ''))) STORED")
    leading = "user_id, " if has_btree_gin else ""
    op.execute(f"CREATE INDEX ix_nexus_messages_search ON nexus_messages USING gin ({leading}search_vector)")
    op.execute(f"CREATE INDEX ix_nexus_conversations_search ON nexus_conversations USING gin ({leading}search_vector)")


def _create_sqlite_search():
    # External-content FTS5 tables (no second copy of the text). The owner's id is an indexed column,
    # so a search never leaves one user's rows. A later batch migration that rebuilds nexus_messages
    # or nexus_conversations must recreate these triggers and run the FTS 'rebuild' command.
    op.execute("CREATE VIRTUAL TABLE message_fts USING fts5(content, user_id, content='nexus_messages', "
               "content_rowid='rowid', tokenize='unicode61 remove_diacritics 2')")
    op.execute("CREATE VIRTUAL TABLE conversation_fts USING fts5(title, user_id, content='nexus_conversations', "
               "content_rowid='rowid', tokenize='unicode61 remove_diacritics 2')")
    for statement in [
        """CREATE TRIGGER nexus_messages_fts_insert AFTER INSERT ON nexus_messages BEGIN
             INSERT INTO message_fts(rowid, content, user_id) VALUES (new.rowid, new.content, new.user_id);
           END""",
        """CREATE TRIGGER nexus_messages_fts_delete AFTER DELETE ON nexus_messages BEGIN
             INSERT INTO message_fts(message_fts, rowid, content, user_id)
             VALUES ('delete', old.rowid, old.content, old.user_id);
           END""",
        """CREATE TRIGGER nexus_messages_fts_update AFTER UPDATE OF content ON nexus_messages BEGIN
             INSERT INTO message_fts(message_fts, rowid, content, user_id)
             VALUES ('delete', old.rowid, old.content, old.user_id);
             INSERT INTO message_fts(rowid, content, user_id) VALUES (new.rowid, new.content, new.user_id);
           END""",
        """CREATE TRIGGER nexus_conversations_fts_insert AFTER INSERT ON nexus_conversations BEGIN
             INSERT INTO conversation_fts(rowid, title, user_id) VALUES (new.rowid, new.title, new.user_id);
           END""",
        """CREATE TRIGGER nexus_conversations_fts_delete AFTER DELETE ON nexus_conversations BEGIN
             INSERT INTO conversation_fts(conversation_fts, rowid, title, user_id)
             VALUES ('delete', old.rowid, old.title, old.user_id);
           END""",
        """CREATE TRIGGER nexus_conversations_fts_update AFTER UPDATE OF title ON nexus_conversations BEGIN
             INSERT INTO conversation_fts(conversation_fts, rowid, title, user_id)
             VALUES ('delete', old.rowid, old.title, old.user_id);
             INSERT INTO conversation_fts(rowid, title, user_id) VALUES (new.rowid, new.title, new.user_id);
           END""",
    ]:
        op.execute(statement)
    op.execute("INSERT INTO message_fts(message_fts) VALUES ('rebuild')")
    op.execute("INSERT INTO conversation_fts(conversation_fts) VALUES ('rebuild')")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_nexus_messages_search")
        op.execute("DROP INDEX IF EXISTS ix_nexus_conversations_search")
        op.execute("ALTER TABLE nexus_messages DROP COLUMN IF EXISTS search_vector")
        op.execute("ALTER TABLE nexus_conversations DROP COLUMN IF EXISTS search_vector")
    else:
        for trigger in ["nexus_messages_fts_insert", "nexus_messages_fts_delete", "nexus_messages_fts_update",
                        "nexus_conversations_fts_insert", "nexus_conversations_fts_delete",
                        "nexus_conversations_fts_update"]:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS message_fts")
        op.execute("DROP TABLE IF EXISTS conversation_fts")
    with op.batch_alter_table('nexus_messages', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_nexus_messages_user_id_users'), type_='foreignkey')
        batch_op.drop_column('user_id')
    with op.batch_alter_table('nexus_conversations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_nexus_conversations_folder_id_nexus_folders'), type_='foreignkey')
        batch_op.drop_index('ix_nexus_conversations_folder')
        batch_op.drop_index('ix_nexus_conversations_sidebar')
        batch_op.create_index('ix_nexus_conversations_sidebar',
                              ['user_id', 'is_archived', 'is_pinned', 'last_activity_at', 'id'], unique=False)
        batch_op.drop_column('folder_id')
    op.drop_table('nexus_shares')
    op.drop_table('nexus_folders')
