"""media expiry moves to its own narrow table, media_expiry

``media_items.expires_at`` was indexed, so PostgreSQL could not update it in place (no
HOT update): recomputing 1,000,000 expiries after a policy change rewrote each wide item
row and all ten of its indexes (66 s, over the 60 s target). In ``media_expiry`` a
recompute rewrites a small row and two index entries (docs/design/retention.md).

Stored decisions are copied across; items never computed get no row (the purge computes
those before it deletes anything, as before).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vms.db.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media_expiry",
        sa.Column("media_id", sa.String(length=36), nullable=False),
        sa.Column("expires_at", vms.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("retention_rule", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["media_id"],
            ["media_items.id"],
            name=op.f("fk_media_expiry_media_id_media_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("media_id", name=op.f("pk_media_expiry")),
    )
    with op.batch_alter_table("media_expiry", schema=None) as batch_op:
        batch_op.create_index("ix_media_expiry_expires", ["expires_at", "media_id"], unique=False)
    op.execute(
        "INSERT INTO media_expiry (media_id, expires_at, retention_rule) "
        "SELECT id, expires_at, retention_rule FROM media_items "
        "WHERE retention_rule IS NOT NULL"
    )
    with op.batch_alter_table("media_items", schema=None) as batch_op:
        batch_op.drop_index("ix_media_items_expiry")
        batch_op.drop_column("retention_rule")
        batch_op.drop_column("expires_at")


def downgrade() -> None:
    with op.batch_alter_table("media_items", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("expires_at", vms.db.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("retention_rule", sa.String(length=200), nullable=True))
        batch_op.create_index("ix_media_items_expiry", ["expires_at", "id"], unique=False)
    op.execute(
        "UPDATE media_items SET "
        "expires_at = (SELECT e.expires_at FROM media_expiry e WHERE e.media_id = media_items.id), "
        "retention_rule = (SELECT e.retention_rule FROM media_expiry e "
        "WHERE e.media_id = media_items.id)"
    )
    op.drop_table("media_expiry")
