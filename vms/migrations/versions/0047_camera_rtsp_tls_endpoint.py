"""cameras.rtsp_tls_endpoint: the host:port an rtsps stream's own pin
(cameras.rtsp_tls_fingerprint) was taken or accepted at. A stream whose address changes
(a PATCH that re-reads the camera's stream URI) is refused there until an admin accepts
the certificate it presents at its new place, instead of being checked against, or
pinned on first use as, a certificate that belongs elsewhere (docs/design/security.md,
"Camera certificates", 9).

Existing pins are dated with the stream they were taken on: the host and port of the
row's rtsps main stream (port 322 when none is given); a pin with no rtsps stream stays
unbound (NULL), as before.

Revision ID: 0047
Revises: 0046
"""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import op

revision = "0047"
down_revision = "0046"
branch_labels = None
depends_on = None

# As vms.media.rtsps.stream_endpoint writes it (a migration keeps its own copy: the
# product code may change after this revision).
_RTSPS_DEFAULT_PORT = 322


def _endpoint(url: str | None) -> str | None:
    if not url or url[:8].lower() != "rtsps://":
        return None
    try:
        parts = urlsplit(url)
        port = parts.port or _RTSPS_DEFAULT_PORT
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if not host:
        return None
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def upgrade() -> None:
    with op.batch_alter_table("cameras") as batch:
        batch.add_column(sa.Column("rtsp_tls_endpoint", sa.String(length=300), nullable=True))
    cameras = sa.table(
        "cameras",
        sa.column("id", sa.String),
        sa.column("main_stream_uri", sa.String),
        sa.column("rtsp_tls_fingerprint", sa.String),
        sa.column("rtsp_tls_endpoint", sa.String),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(cameras.c.id, cameras.c.main_stream_uri).where(
            cameras.c.rtsp_tls_fingerprint.is_not(None)
        )
    ).all()
    for camera_id, uri in rows:
        place = _endpoint(uri)
        if place is not None:
            bind.execute(
                cameras.update()
                .where(cameras.c.id == camera_id)
                .values(rtsp_tls_endpoint=place)
            )


def downgrade() -> None:
    with op.batch_alter_table("cameras") as batch:
        batch.drop_column("rtsp_tls_endpoint")
