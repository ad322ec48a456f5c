"""cameras.rtsp_tls_fingerprint: the pin of an rtsps camera's RTSP port (SHA-256,
AB:CD:...), for a camera that presents another certificate there than on its ONVIF
(https) port, accepted by an admin (POST /api/v1/cameras/{id}/certificate with port
rtsp), or learned at the stream's first connection when the camera has no other pin
(trust on first use, audited camera.certificate.pin; docs/design/security.md, "Camera
certificates", 8).

Self-contained (one nullable column): without it a stream is checked against the ONVIF
pin or the CA bundle, as before.

Revision ID: 0046
Revises: 0045
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0046"
down_revision = "0045"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cameras") as batch:
        batch.add_column(sa.Column("rtsp_tls_fingerprint", sa.String(length=95), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cameras") as batch:
        batch.drop_column("rtsp_tls_fingerprint")
