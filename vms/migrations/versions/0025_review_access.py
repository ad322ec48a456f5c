"""critical incidents, review approvals and review grants (issue 14, item 4: ACC-2, ACC-3)

``media_items.critical_incident`` marks a recording of an incident with death or serious
bodily injury; ``review_approvals`` holds the written approvals for an officer's own
review of such an item (ACC-2); ``review_grants`` and ``review_grant_items`` the
time-boxed grants for an officer under investigation to review the items that capture
them (ACC-3).

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vms.db.types

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

Time = vms.db.types.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("media_items") as batch_op:
        batch_op.add_column(
            sa.Column("critical_incident", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "review_approvals",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("media_id", sa.String(length=36), nullable=False),
        sa.Column("officer", sa.String(length=64), nullable=False),
        sa.Column("approved_by", sa.String(length=64), nullable=False),
        sa.Column("approved_at", Time(timezone=True), nullable=False),
        sa.Column("document_ref", sa.String(length=200), nullable=True),
        sa.Column("document_media_id", sa.String(length=36), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("expires_at", Time(timezone=True), nullable=True),
        sa.Column("revoked_at", Time(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_approvals")),
    )
    op.create_index(
        "ix_review_approvals_media_officer", "review_approvals", ["media_id", "officer"]
    )
    op.create_table(
        "review_grants",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("officer", sa.String(length=64), nullable=False),
        sa.Column("granted_by", sa.String(length=64), nullable=False),
        sa.Column("granted_at", Time(timezone=True), nullable=False),
        sa.Column("starts_at", Time(timezone=True), nullable=False),
        sa.Column("ends_at", Time(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("revoked_at", Time(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.Column("revoke_reason", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_grants")),
    )
    op.create_index("ix_review_grants_officer", "review_grants", ["officer", "ends_at"])
    op.create_table(
        "review_grant_items",
        sa.Column("grant_id", sa.String(length=36), nullable=False),
        sa.Column("media_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["grant_id"],
            ["review_grants.id"],
            name=op.f("fk_review_grant_items_grant_id_review_grants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("grant_id", "media_id", name=op.f("pk_review_grant_items")),
    )
    op.create_index("ix_review_grant_items_media", "review_grant_items", ["media_id"])


def downgrade() -> None:
    op.drop_table("review_grant_items")
    op.drop_table("review_grants")
    op.drop_table("review_approvals")
    with op.batch_alter_table("media_items") as batch_op:
        batch_op.drop_column("critical_incident")
