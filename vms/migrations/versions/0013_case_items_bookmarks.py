"""case_items and bookmarks: case folders and bookmarks (issue 15.3); cameras.location

``case_items`` holds the media items added to a case by hand, with a note (items tagged
with the case number belong to it without a row). ``bookmarks`` holds labelled instants
or ranges on a camera's timeline or in one item. ``cameras.location`` is where a camera
is, shown beside its name (issue 15.5).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vms.db.types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_items",
        sa.Column("case_number", sa.String(length=64), nullable=False),
        sa.Column("media_id", sa.String(length=36), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.Column("added_at", vms.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_number"], ["cases.case_number"], name=op.f("fk_case_items_case_number_cases")
        ),
        sa.PrimaryKeyConstraint("case_number", "media_id", name=op.f("pk_case_items")),
    )
    op.create_index("ix_case_items_media", "case_items", ["media_id"], unique=False)
    op.create_table(
        "bookmarks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("case_number", sa.String(length=64), nullable=True),
        sa.Column("camera_id", sa.String(length=64), nullable=True),
        sa.Column("media_id", sa.String(length=36), nullable=True),
        sa.Column("start", vms.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end", vms.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("created_at", vms.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_number"], ["cases.case_number"], name=op.f("fk_bookmarks_case_number_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookmarks")),
    )
    op.create_index("ix_bookmarks_case", "bookmarks", ["case_number", "start"], unique=False)
    op.create_index("ix_bookmarks_camera", "bookmarks", ["camera_id", "start"], unique=False)
    op.create_index("ix_bookmarks_media", "bookmarks", ["media_id", "start"], unique=False)
    op.add_column("cameras", sa.Column("location", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cameras") as batch:
        batch.drop_column("location")
    op.drop_index("ix_bookmarks_media", table_name="bookmarks")
    op.drop_index("ix_bookmarks_camera", table_name="bookmarks")
    op.drop_index("ix_bookmarks_case", table_name="bookmarks")
    op.drop_table("bookmarks")
    op.drop_index("ix_case_items_media", table_name="case_items")
    op.drop_table("case_items")
