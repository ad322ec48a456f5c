"""cameras and PTZ sessions: onboarded ONVIF cameras (credentials encrypted, key
outside the database) and PTZ control sessions for arbitration and audit (issue 4,
docs/design/ptz-arbitration.md).

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-22 01:23:14.897063
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vms.db.types


revision = '0005'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cameras',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('onvif_url', sa.String(length=500), nullable=False),
    sa.Column('username', sa.String(length=200), nullable=False),
    sa.Column('password_enc', sa.Text(), nullable=False),
    sa.Column('manufacturer', sa.String(length=200), nullable=True),
    sa.Column('model', sa.String(length=200), nullable=True),
    sa.Column('firmware', sa.String(length=200), nullable=True),
    sa.Column('serial', sa.String(length=200), nullable=True),
    sa.Column('profile_token', sa.String(length=200), nullable=False),
    sa.Column('sub_profile_token', sa.String(length=200), nullable=True),
    sa.Column('main_stream_uri', sa.String(length=1000), nullable=True),
    sa.Column('sub_stream_uri', sa.String(length=1000), nullable=True),
    sa.Column('capabilities', vms.db.types.JSONText(), nullable=False),
    sa.Column('presets', vms.db.types.JSONText(), nullable=False),
    sa.Column('calibration', vms.db.types.JSONText(), nullable=False),
    sa.Column('ptz_supported', sa.Boolean(), nullable=False),
    sa.Column('health', sa.String(length=16), nullable=False),
    sa.Column('health_detail', sa.String(length=500), nullable=True),
    sa.Column('last_seen_at', vms.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('health_checked_at', vms.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', vms.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', vms.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['id'], ['devices.id'], name=op.f('fk_cameras_id_devices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cameras')),
    sa.UniqueConstraint('name', name=op.f('uq_cameras_name'))
    )
    op.create_table('ptz_sessions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('camera_id', sa.String(length=64), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=32), nullable=False),
    sa.Column('incident_number', sa.String(length=64), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('reservation', sa.Boolean(), nullable=False),
    sa.Column('started_at', vms.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_activity_at', vms.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', vms.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=32), nullable=True),
    sa.Column('ended_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['camera_id'], ['cameras.id'], name=op.f('fk_ptz_sessions_camera_id_cameras'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ptz_sessions'))
    )
    with op.batch_alter_table('ptz_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_ptz_sessions_camera_open', ['camera_id', 'ended_at'], unique=False)
        batch_op.create_index('ix_ptz_sessions_user', ['username', 'started_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('ptz_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_ptz_sessions_user')
        batch_op.drop_index('ix_ptz_sessions_camera_open')

    op.drop_table('ptz_sessions')
    op.drop_table('cameras')
