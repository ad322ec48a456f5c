"""mask lifts (issue 14, item 6: PSCS-1 exceptions)

``mask_lifts`` holds the admin-granted, time-boxed lifts of one privacy mask of one
camera, with the stated reason and the mask versions that began and ended each.

Revision ID: 0030
Revises: 0029
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vms.db.types

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

Time = vms.db.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "mask_lifts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("mask_id", sa.String(length=36), nullable=False),
        sa.Column("mask_name", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("granted_by", sa.String(length=64), nullable=False),
        sa.Column("starts_at", Time(timezone=True), nullable=False),
        sa.Column("ends_at", Time(timezone=True), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=False),
        sa.Column("to_version", sa.Integer(), nullable=True),
        sa.Column("ended_at", Time(timezone=True), nullable=True),
        sa.Column("ended_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mask_lifts")),
    )
    op.create_index("ix_mask_lifts_camera", "mask_lifts", ["camera_id", "ended_at"])


def downgrade() -> None:
    op.drop_index("ix_mask_lifts_camera", table_name="mask_lifts")
    op.drop_table("mask_lifts")
