"""redactions.runner, runner_token, runner_expires_at: who runs a redaction job's step
(analysing or rendering), under a lease its runner renews (docs/design/redaction.md, "Who
runs a step"; vms/row_leases.py, as exports since 0042). The jobs role's recovery takes
over only a job whose runner's lease has expired, so a jobs host starting (or restarted)
beside another no longer fails the step that host is running, and one whose runner died
is failed within a lease, not only at a jobs role's next start.

Rows analysing or rendering before this revision have no lease: they are taken as
abandoned (their runner was the process that stopped to upgrade).

Revision ID: 0043
Revises: 0042
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vms.db.types

revision = "0043"
down_revision = "0042"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("redactions") as batch:
        batch.add_column(sa.Column("runner", sa.String(length=128), nullable=True))
        batch.add_column(
            sa.Column("runner_token", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("runner_expires_at", vms.db.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("redactions") as batch:
        batch.drop_column("runner_expires_at")
        batch.drop_column("runner_token")
        batch.drop_column("runner")
