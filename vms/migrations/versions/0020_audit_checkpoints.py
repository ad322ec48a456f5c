"""audit_checkpoints: signed checkpoints of the audit chain (issue 14, item 1)

Revision ID: 0020
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vms.db.types

revision = "0020"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", vms.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("chain_digest", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("key_fingerprint", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_checkpoints")),
    )


def downgrade() -> None:
    op.drop_table("audit_checkpoints")
