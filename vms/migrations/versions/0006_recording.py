"""recording: privacy masks (versioned), mask versions, recording on/off state and
recording gaps with their cause (issue 5, OPS-4, PSCS-1; docs/design/recording.md).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 01:26:50.294750
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vms.db.types


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('mask_versions',
    sa.Column('camera_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('changed_at', vms.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('camera_id', name=op.f('pk_mask_versions'))
    )
    op.create_table('privacy_masks',
    sa.Column('row_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('mask_id', sa.String(length=36), nullable=False),
    sa.Column('camera_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('polygon', vms.db.types.JSONText(), nullable=False),
    sa.Column('from_version', sa.Integer(), nullable=False),
    sa.Column('to_version', sa.Integer(), nullable=True),
    sa.Column('created_at', vms.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('row_id', name=op.f('pk_privacy_masks'))
    )
    with op.batch_alter_table('privacy_masks', schema=None) as batch_op:
        batch_op.create_index('ix_privacy_masks_camera', ['camera_id', 'to_version'], unique=False)

    op.create_table('recording_gaps',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('camera_id', sa.String(length=64), nullable=False),
    sa.Column('start', vms.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('end', vms.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cause', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.String(length=500), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recording_gaps'))
    )
    with op.batch_alter_table('recording_gaps', schema=None) as batch_op:
        batch_op.create_index('ix_recording_gaps_camera', ['camera_id', 'start'], unique=False)

    op.create_table('recording_states',
    sa.Column('camera_id', sa.String(length=64), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('changed_at', vms.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('changed_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('camera_id', name=op.f('pk_recording_states'))
    )


def downgrade() -> None:
    op.drop_table('recording_states')
    with op.batch_alter_table('recording_gaps', schema=None) as batch_op:
        batch_op.drop_index('ix_recording_gaps_camera')

    op.drop_table('recording_gaps')
    with op.batch_alter_table('privacy_masks', schema=None) as batch_op:
        batch_op.drop_index('ix_privacy_masks_camera')

    op.drop_table('privacy_masks')
    op.drop_table('mask_versions')
