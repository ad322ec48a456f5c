"""job leases: one runner of each cluster-wide scheduled job (issue 13, item 5)

Revision ID: 0034
Revises: 0025
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vms.db.types

revision = "0034"
down_revision = "0025"
branch_labels = None
depends_on = None

Time = vms.db.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "job_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=True),
        sa.Column("token", sa.Integer(), nullable=False),
        sa.Column("expires_at", Time(timezone=True), nullable=True),
        sa.Column("started_at", Time(timezone=True), nullable=True),
        sa.Column("finished_at", Time(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_leases")),
    )


def downgrade() -> None:
    op.drop_table("job_leases")
