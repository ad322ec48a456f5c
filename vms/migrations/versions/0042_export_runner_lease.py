"""exports.runner, runner_token, runner_expires_at: who runs a running export, under a
lease its runner renews (docs/design/exports.md, "Who runs an export"). The jobs role's
recovery takes over only an export whose runner's lease has expired, so a ``vms export
create`` running in its own process is no longer failed under it by a jobs role that
starts meanwhile, and one whose runner died is recovered within a lease, not only at the
jobs role's next start.

Rows running before this revision have no lease: they are taken as abandoned (their
runner was the process that stopped to upgrade).

Revision ID: 0042
Revises: 0041
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vms.db.types

revision = "0042"
down_revision = "0041"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("exports") as batch:
        batch.add_column(sa.Column("runner", sa.String(length=128), nullable=True))
        batch.add_column(
            sa.Column("runner_token", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("runner_expires_at", vms.db.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("exports") as batch:
        batch.drop_column("runner_expires_at")
        batch.drop_column("runner_token")
        batch.drop_column("runner")
