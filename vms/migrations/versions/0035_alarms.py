"""alarms (issue 12, item 3): camera offline, video lost, recording gap, disk alarm and
mask blanking, as raised, cleared and acknowledged (vms/alarms.py)

Revision ID: 0035
Revises: 0030
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vms.db.types

revision = "0035"
down_revision = "0030"
branch_labels = None
depends_on = None

Time = vms.db.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "alarms",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=True),
        sa.Column("open_key", sa.String(length=100), nullable=True),
        sa.Column("raised_at", Time(timezone=True), nullable=False),
        sa.Column("cleared_at", Time(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.Column("acknowledged_at", Time(timezone=True), nullable=True),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarms")),
        sa.UniqueConstraint("open_key", name="uq_alarms_open_key"),
    )
    op.create_index("ix_alarms_raised", "alarms", ["raised_at"])
    op.create_index("ix_alarms_camera", "alarms", ["camera_id", "raised_at"])


def downgrade() -> None:
    op.drop_index("ix_alarms_camera", table_name="alarms")
    op.drop_index("ix_alarms_raised", table_name="alarms")
    op.drop_table("alarms")
