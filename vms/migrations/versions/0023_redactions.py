"""redactions: the redaction jobs (issue 16, item 3)

``redactions`` holds every redaction job: the item, the request as validated, the
method, its state and progress, the tracks found and edited, and once rendered the
derived item.

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vms.db.types

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "redactions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("media_id", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("request", vms.db.types.JSONText(), nullable=False),
        sa.Column("tracks", vms.db.types.JSONText(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_role", sa.String(length=32), nullable=False),
        sa.Column("created_at", vms.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", vms.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rendered_media_id", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_redactions")),
    )
    op.create_index("ix_redactions_state", "redactions", ["state", "created_at"], unique=False)
    op.create_index("ix_redactions_media", "redactions", ["media_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_redactions_media", table_name="redactions")
    op.drop_index("ix_redactions_state", table_name="redactions")
    op.drop_table("redactions")
