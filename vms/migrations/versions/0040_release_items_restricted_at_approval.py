"""release_items.restricted_at_approval: whether each served item was restricted (ACC-7)
when its request was approved. A link or a release no longer serves an item restricted
since: the approval did not cover an item only administration may view.

For requests approved before this revision the answer is read from the chain of custody:
an item restricted now counts as restricted at approval unless a ``restricted`` custody
event on it comes after the decision (then it was restricted since, and its links stop).

Revision ID: 0040
Revises: 0039
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0040"
down_revision = "0039"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "release_items",
        sa.Column(
            "restricted_at_approval", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
    )
    items = sa.table(
        "release_items",
        sa.column("release_id", sa.String),
        sa.column("media_id", sa.String),
        sa.column("restricted_at_approval", sa.Boolean),
    )
    requests = sa.table(
        "release_requests",
        sa.column("id", sa.String),
        sa.column("state", sa.String),
        sa.column("decided_at", sa.DateTime),
    )
    media = sa.table("media_items", sa.column("id", sa.String), sa.column("restricted", sa.Boolean))
    custody = sa.table(
        "custody_events",
        sa.column("media_id", sa.String),
        sa.column("action", sa.String),
        sa.column("at", sa.DateTime),
    )
    decided = (
        sa.select(requests.c.decided_at)
        .where(requests.c.id == items.c.release_id)
        .correlate(items)
        .scalar_subquery()
    )
    restricted_since = sa.select(custody.c.media_id).where(
        custody.c.media_id == items.c.media_id,
        custody.c.action == "restricted",
        custody.c.at > decided,
    )
    op.execute(
        items.update()
        .where(
            items.c.release_id.in_(
                sa.select(requests.c.id).where(requests.c.state.in_(("approved", "released")))
            ),
            items.c.media_id.in_(sa.select(media.c.id).where(media.c.restricted == sa.true())),
            ~sa.exists(restricted_since),
        )
        .values(restricted_at_approval=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("release_items") as batch:
        batch.drop_column("restricted_at_approval")
