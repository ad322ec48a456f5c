"""releases: release requests, their items, share links, and the privacy flag (issue 16)

``release_requests`` logs FOIA, agency, court-order, media and internal-affairs requests
with their approval (ACC-5); ``release_items`` the catalog items each serves;
``share_links`` the outsiders' links (token stored as SHA-256 only);
``media_items.privacy_sensitive`` marks footage released only redacted (ACC-11, REL-3).

Revision ID: 0024
Revises: 0026
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vms.db.types

revision = "0024"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (no table rebuild on SQLite); existing items are not sensitive.
    op.add_column(
        "media_items",
        sa.Column("privacy_sensitive", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "release_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("request_number", sa.String(length=64), nullable=False),
        sa.Column("requester_name", sa.String(length=200), nullable=False),
        sa.Column("requester_organization", sa.String(length=200), nullable=True),
        sa.Column("requester_contact", sa.String(length=200), nullable=True),
        sa.Column("received_at", vms.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("document_media_id", sa.String(length=36), nullable=True),
        sa.Column("due_at", vms.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", vms.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("decided_at", vms.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("released_at", vms.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("released_by", sa.String(length=64), nullable=True),
        sa.Column("secondary_copy", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_release_requests")),
    )
    op.create_index(
        "ix_release_requests_state_due", "release_requests", ["state", "due_at"], unique=False
    )
    op.create_table(
        "release_items",
        sa.Column("release_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("export_id", sa.String(length=36), nullable=True),
        sa.Column("media_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["release_requests.id"],
            name=op.f("fk_release_items_release_id_release_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("release_id", "position", name=op.f("pk_release_items")),
    )
    op.create_table(
        "share_links",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("release_id", sa.String(length=36), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", vms.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("expires_at", vms.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("max_downloads", sa.Integer(), nullable=False),
        sa.Column("downloads", sa.Integer(), nullable=False),
        sa.Column("revoked_at", vms.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["release_requests.id"],
            name=op.f("fk_share_links_release_id_release_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_share_links")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_share_links_token_sha256")),
    )
    op.create_index("ix_share_links_release", "share_links", ["release_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_share_links_release", table_name="share_links")
    op.drop_table("share_links")
    op.drop_table("release_items")
    op.drop_index("ix_release_requests_state_due", table_name="release_requests")
    op.drop_table("release_requests")
    with op.batch_alter_table("media_items") as batch:
        batch.drop_column("privacy_sensitive")
