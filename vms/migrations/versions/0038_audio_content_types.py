"""media_items.content_type of sound-only files: ``audio/mp4`` (and the like), not the
container family's ``video/`` type that the probe gave them before (an interview .m4a
was listed, served and downloaded as ``video/mp4``). Only rows whose media_type is
``audio`` change; the stored files and their hashes do not.

Revision ID: 0038
Revises: 0037
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0038"
down_revision = "0037"
branch_labels = None
depends_on = None

# vms.media.probe's _AUDIO_ONLY_TYPES, as it was written (a migration does not follow
# later edits of the code).
_FIXED = {
    "video/mp4": "audio/mp4",
    "video/x-matroska": "audio/x-matroska",
    "video/x-ms-asf": "audio/x-ms-wma",
}


def _set(old: str, new: str) -> None:
    op.execute(
        sa.text(
            "UPDATE media_items SET content_type = :new "
            "WHERE media_type = 'audio' AND content_type = :old"
        ).bindparams(old=old, new=new)
    )


def upgrade() -> None:
    for video, audio in _FIXED.items():
        _set(video, audio)


def downgrade() -> None:
    for video, audio in _FIXED.items():
        _set(audio, video)
