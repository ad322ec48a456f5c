"""camera ownership: media nodes and camera leases (issue 13, item 1)

Revision ID: 0036
Revises: 0035
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vms.db.types

revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None

Time = vms.db.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "media_nodes",
        sa.Column("node_id", sa.String(length=200), nullable=False),
        sa.Column("internal_url", sa.String(length=500), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("started_at", Time(timezone=True), nullable=False),
        sa.Column("heartbeat_at", Time(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("node_id", name=op.f("pk_media_nodes")),
    )
    op.create_table(
        "camera_leases",
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("node_id", sa.String(length=200), nullable=True),
        sa.Column("token", sa.Integer(), nullable=False),
        sa.Column("expires_at", Time(timezone=True), nullable=True),
        sa.Column("pinned_node", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("camera_id", name=op.f("pk_camera_leases")),
    )


def downgrade() -> None:
    op.drop_table("camera_leases")
    op.drop_table("media_nodes")
