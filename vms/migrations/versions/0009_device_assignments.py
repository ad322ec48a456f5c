"""device_assignments: capture devices issued to officers (issue #10.1)

With ``[ingest] device_assignment`` on, an upload, dock or CLI import may name a device
only for an officer it is assigned to (BWC-to-officer).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vms.db.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_assignments",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("officer_badge", sa.String(length=32), nullable=False),
        sa.Column("assigned_at", vms.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("assigned_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_device_assignments_device_id_devices"),
        ),
        sa.ForeignKeyConstraint(
            ["officer_badge"],
            ["officers.badge"],
            name=op.f("fk_device_assignments_officer_badge_officers"),
        ),
        sa.PrimaryKeyConstraint("device_id", "officer_badge", name=op.f("pk_device_assignments")),
    )
    op.create_index(
        "ix_device_assignments_officer", "device_assignments", ["officer_badge"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_device_assignments_officer", table_name="device_assignments")
    op.drop_table("device_assignments")
