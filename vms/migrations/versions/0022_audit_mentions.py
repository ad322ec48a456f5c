"""audit_mentions: what audit entries showed besides their target (issue 14, item 2)

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from vms.audit.mentions import mentioned

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    mentions = op.create_table(
        "audit_mentions",
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("target", "seq", name=op.f("pk_audit_mentions")),
    )
    # The index of the entries written before it, from their chained details.
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT seq, target, details FROM audit_entries"
                " WHERE seq > :last ORDER BY seq LIMIT 5000"
            ),
            {"last": last},
        ).fetchall()
        if not rows:
            break
        batch: list[dict[str, object]] = []
        for seq, target, details in rows:
            last = seq
            try:
                parsed = json.loads(details) if isinstance(details, str) else details
            except ValueError:
                continue  # not ours to judge here: `vms audit verify` reports the entry
            if isinstance(parsed, dict):
                batch.extend({"target": t, "seq": seq} for t in sorted(mentioned(target, parsed)))
        if batch:
            op.bulk_insert(mentions, batch)


def downgrade() -> None:
    op.drop_table("audit_mentions")
