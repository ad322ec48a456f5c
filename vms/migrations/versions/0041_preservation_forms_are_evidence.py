"""Preservation request forms are evidence (RET-3, RET-7): the scanned form of a request
is part of the RET-3 log entry, which is never deleted, and is now marked evidence when it
is attached. Forms attached before were ordinary documents (kept 90 days from their
attachment): this marks them evidence too, so a form is not purged while the log entry
that names it, and the footage its request pinned, are kept.

Only the flag is set: the purge decides each item's expiry again from its facts before it
deletes anything, so it keeps these forms at the next run and writes their new expiry.
Setting the flag can only lengthen retention (RET-12), never shorten it.

Revision ID: 0041
Revises: 0040
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0041"
down_revision = "0040"
branch_labels = None
depends_on = None


def upgrade() -> None:
    media = sa.table("media_items", sa.column("id", sa.String), sa.column("evidence", sa.Boolean))
    requests = sa.table("preservation_requests", sa.column("form_media_id", sa.String))
    forms = sa.select(requests.c.form_media_id).where(requests.c.form_media_id.is_not(None))
    op.execute(
        media.update()
        .where(media.c.id.in_(forms), media.c.evidence == sa.false())
        .values(evidence=True)
    )


def downgrade() -> None:
    """Nothing to undo: which forms were evidence before is not known, and keeping a
    form longer loses nothing."""
