"""cameras.ptz_session_seq: a per-camera sequence of PTZ session changes
(docs/design/ptz-arbitration.md, P6). Every take, release, take-over and expiry
advances it under the camera's row lock; ``ptz.session`` events and the PTZ status
carry it, so a page applies what it hears only when it is newer than what it has.

Existing cameras start at 0: pages opened before the upgrade hold no sequence yet.
Self-contained (one column on one table): it may be renumbered at merge.

Revision ID: 0044
Revises: 0043
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0044"
down_revision = "0043"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cameras") as batch:
        batch.add_column(
            sa.Column("ptz_session_seq", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("cameras") as batch:
        batch.drop_column("ptz_session_seq")
