"""media_items.content_type of Ogg files with video: ``video/ogg`` (RFC 5334), not the
``audio/ogg`` that the probe gave every Ogg file before (a VP8 clip in Ogg was listed,
served and downloaded as sound). Only rows whose media_type is ``video`` change; the
stored files and their hashes do not.

WebM files, which the probe now tells from Matroska by their EBML header, keep the
``x-matroska`` types they were catalogued with: telling them apart needs the file's
first bytes, which a migration does not read (WebM is a Matroska profile, so the type
is not wrong, only less precise).

Revision ID: 0039
Revises: 0038
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0039"
down_revision = "0038"
branch_labels = None
depends_on = None


def _set(old: str, new: str) -> None:
    op.execute(
        sa.text(
            "UPDATE media_items SET content_type = :new "
            "WHERE media_type = 'video' AND content_type = :old"
        ).bindparams(old=old, new=new)
    )


def upgrade() -> None:
    _set("audio/ogg", "video/ogg")


def downgrade() -> None:
    _set("video/ogg", "audio/ogg")
