"""cameras.tls_fingerprint: an https camera's pinned certificate (SHA-256, AB:CD:...),
recorded at onboarding (trust on first use, or the fingerprint the admin expects) and
checked on every connection; a camera presenting another one is refused before anything
is sent. cameras.tls_ca_pem: the CA bundle that verifies the camera instead, when the
admin gave one (docs/design/security.md, "Camera certificates").

Self-contained (two nullable columns): https cameras onboarded before this revision have
none; a media node's first connection pins and stores the certificate it meets
(audited camera.certificate.pin).

Revision ID: 0045
Revises: 0044
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0045"
down_revision = "0044"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cameras") as batch:
        batch.add_column(sa.Column("tls_fingerprint", sa.String(length=95), nullable=True))
        batch.add_column(sa.Column("tls_ca_pem", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cameras") as batch:
        batch.drop_column("tls_ca_pem")
        batch.drop_column("tls_fingerprint")
