"""supervisor_reviews: supervisors' reviews of officer videos (OPS-6, issue 14 item 3)

Revision ID: 0026
Revises: 0023
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from vms.db.types import UTCDateTime

revision = "0026"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "supervisor_reviews",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("media_id", sa.String(length=36), nullable=False),
        sa.Column("officer_badge", sa.String(length=32), nullable=False),
        sa.Column("reviewer", sa.String(length=64), nullable=False),
        sa.Column("reviewer_role", sa.String(length=32), nullable=False),
        sa.Column("reviewed_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervisor_reviews")),
    )
    op.create_index(
        "ix_supervisor_reviews_officer",
        "supervisor_reviews",
        ["officer_badge", "reviewed_at"],
    )
    op.create_index("ix_supervisor_reviews_reviewed", "supervisor_reviews", ["reviewed_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_supervisor_reviews_reviewed", table_name="supervisor_reviews")
    op.drop_index("ix_supervisor_reviews_officer", table_name="supervisor_reviews")
    op.drop_table("supervisor_reviews")
