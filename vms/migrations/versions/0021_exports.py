"""exports and media_links: the export jobs and derived items' links (issue 15, item 4)

``exports`` holds every export request with its state, progress and, once done, its
package's catalog item; ``media_links`` links a derived item to every item it was made
from (INV-2).

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vms.db.types

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exports",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_role", sa.String(length=32), nullable=False),
        sa.Column("created_at", vms.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", vms.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("purpose", sa.String(length=500), nullable=False),
        sa.Column("case_number", sa.String(length=64), nullable=True),
        sa.Column("request", vms.db.types.JSONText(), nullable=False),
        sa.Column("package_media_id", sa.String(length=36), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exports")),
    )
    op.create_index("ix_exports_state", "exports", ["state", "created_at"], unique=False)
    op.create_index("ix_exports_creator", "exports", ["created_by", "created_at"], unique=False)
    op.create_index("ix_exports_case", "exports", ["case_number", "created_at"], unique=False)
    op.create_table(
        "media_links",
        sa.Column("media_id", sa.String(length=36), nullable=False),
        sa.Column("source_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["media_id"],
            ["media_items.id"],
            name=op.f("fk_media_links_media_id_media_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("media_id", "source_id", name=op.f("pk_media_links")),
    )
    op.create_index("ix_media_links_source", "media_links", ["source_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_media_links_source", table_name="media_links")
    op.drop_table("media_links")
    op.drop_index("ix_exports_case", table_name="exports")
    op.drop_index("ix_exports_creator", table_name="exports")
    op.drop_index("ix_exports_state", table_name="exports")
    op.drop_table("exports")
