"""media_markers and media_items.pre_event_buffer_seconds: device markers and the
pre-event buffer that uploads carry (OPS-2, OPS-3, issue 14 item 5)

Revision ID: 0029
Revises: 0034
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from vms.db.types import UTCDateTime

revision = "0029"
down_revision = "0034"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("media_items") as batch:
        batch.add_column(sa.Column("pre_event_buffer_seconds", sa.Integer(), nullable=True))
    op.create_table(
        "media_markers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("media_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["media_id"],
            ["media_items.id"],
            name=op.f("fk_media_markers_media_id_media_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_markers")),
    )
    op.create_index("ix_media_markers_media", "media_markers", ["media_id", "at"])
    op.create_index("ix_media_markers_kind", "media_markers", ["kind", "media_id"])


def downgrade() -> None:
    op.drop_index("ix_media_markers_kind", table_name="media_markers")
    op.drop_index("ix_media_markers_media", table_name="media_markers")
    op.drop_table("media_markers")
    with op.batch_alter_table("media_items") as batch:
        batch.drop_column("pre_event_buffer_seconds")
