"""retention: expiry columns, preservation requests, legal holds, cases, purge intents,
destruction records, tagging notices (issue 6, docs/design/retention.md).

Existing media rows get ``expires_at``/``retention_rule`` NULL; the first purge run (or
``vms retention recompute``) fills them in before it deletes anything.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 01:08:10.734396
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vms.db.types


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cases',
    sa.Column('case_number', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('opened_at', vms.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', vms.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('case_number', name=op.f('pk_cases'))
    )
    op.create_table('destruction_records',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('media_id', sa.String(length=36), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('officer_badge', sa.String(length=32), nullable=True),
    sa.Column('recorded_start', vms.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_end', vms.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('case_number', sa.String(length=64), nullable=True),
    sa.Column('rule', sa.String(length=200), nullable=False),
    sa.Column('expired_at', vms.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('purged_at', vms.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('run_id', sa.String(length=36), nullable=False),
    sa.Column('file_unlinked', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_destruction_records'))
    )
    with op.batch_alter_table('destruction_records', schema=None) as batch_op:
        batch_op.create_index('ix_destruction_records_device', ['device_id', 'recorded_start'], unique=False)
        batch_op.create_index('ix_destruction_records_media', ['media_id'], unique=False)
        batch_op.create_index('ix_destruction_records_officer', ['officer_badge', 'recorded_start'], unique=False)
        batch_op.create_index('ix_destruction_records_purged', ['purged_at', 'id'], unique=False)

    op.create_table('legal_holds',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_at', vms.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('released_at', vms.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('released_by', sa.String(length=64), nullable=True),
    sa.Column('release_notice', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_legal_holds'))
    )
    op.create_table('media_holds',
    sa.Column('media_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('hold_id', sa.String(length=36), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.Column('created_at', vms.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('released_at', vms.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('media_id', 'kind', 'hold_id', name=op.f('pk_media_holds'))
    )
    with op.batch_alter_table('media_holds', schema=None) as batch_op:
        batch_op.create_index('ix_media_holds_media', ['media_id', 'released_at'], unique=False)

    op.create_table('preservation_requests',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('request_number', sa.String(length=64), nullable=False),
    sa.Column('requester_name', sa.String(length=200), nullable=False),
    sa.Column('requester_organization', sa.String(length=200), nullable=True),
    sa.Column('requester_contact', sa.String(length=200), nullable=True),
    sa.Column('received_at', vms.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_via', sa.String(length=16), nullable=False),
    sa.Column('received_by', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('litigation_anticipated', sa.Boolean(), nullable=False),
    sa.Column('case_number', sa.String(length=64), nullable=True),
    sa.Column('media_ids', vms.db.types.JSONText(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('form_media_id', sa.String(length=36), nullable=True),
    sa.Column('created_at', vms.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('released_at', vms.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('released_by', sa.String(length=64), nullable=True),
    sa.Column('release_notice', sa.String(length=200), nullable=True),
    sa.Column('release_reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_preservation_requests')),
    sa.UniqueConstraint('request_number', name=op.f('uq_preservation_requests_request_number'))
    )
    op.create_table('tagging_notices',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('media_id', sa.String(length=36), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('officer_badge', sa.String(length=32), nullable=True),
    sa.Column('supervisor', sa.String(length=64), nullable=True),
    sa.Column('notified_at', vms.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tagging_notices')),
    sa.UniqueConstraint('media_id', 'day', name='uq_tagging_notices_media_day')
    )
    with op.batch_alter_table('tagging_notices', schema=None) as batch_op:
        batch_op.create_index('ix_tagging_notices_officer', ['officer_badge', 'day'], unique=False)

    op.create_table('preservation_scopes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=True),
    sa.Column('officer_badge', sa.String(length=32), nullable=True),
    sa.Column('start', vms.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('end', vms.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['preservation_requests.id'], name=op.f('fk_preservation_scopes_request_id_preservation_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_preservation_scopes'))
    )
    with op.batch_alter_table('preservation_scopes', schema=None) as batch_op:
        batch_op.create_index('ix_preservation_scopes_device', ['device_id', 'start'], unique=False)
        batch_op.create_index('ix_preservation_scopes_officer', ['officer_badge', 'start'], unique=False)
        batch_op.create_index(batch_op.f('ix_preservation_scopes_request_id'), ['request_id'], unique=False)

    op.create_table('purge_intents',
    sa.Column('media_id', sa.String(length=36), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('rule', sa.String(length=200), nullable=False),
    sa.Column('expired_at', vms.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', vms.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('run_id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['media_id'], ['media_items.id'], name=op.f('fk_purge_intents_media_id_media_items')),
    sa.PrimaryKeyConstraint('media_id', name=op.f('pk_purge_intents'))
    )
    with op.batch_alter_table('media_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', vms.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('retention_rule', sa.String(length=200), nullable=True))
        batch_op.create_index('ix_media_items_expiry', ['expires_at', 'id'], unique=False)
        # Deleting a media row checks these references; without indexes, a scan each.
        batch_op.create_index('ix_media_items_derived_from', ['derived_from_id'], unique=False)

    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.create_index('ix_uploads_media', ['media_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.drop_index('ix_uploads_media')

    with op.batch_alter_table('media_items', schema=None) as batch_op:
        batch_op.drop_index('ix_media_items_derived_from')
        batch_op.drop_index('ix_media_items_expiry')
        batch_op.drop_column('retention_rule')
        batch_op.drop_column('expires_at')

    op.drop_table('purge_intents')
    with op.batch_alter_table('preservation_scopes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_preservation_scopes_request_id'))
        batch_op.drop_index('ix_preservation_scopes_officer')
        batch_op.drop_index('ix_preservation_scopes_device')

    op.drop_table('preservation_scopes')
    with op.batch_alter_table('tagging_notices', schema=None) as batch_op:
        batch_op.drop_index('ix_tagging_notices_officer')

    op.drop_table('tagging_notices')
    op.drop_table('preservation_requests')
    with op.batch_alter_table('media_holds', schema=None) as batch_op:
        batch_op.drop_index('ix_media_holds_media')

    op.drop_table('media_holds')
    op.drop_table('legal_holds')
    with op.batch_alter_table('destruction_records', schema=None) as batch_op:
        batch_op.drop_index('ix_destruction_records_purged')
        batch_op.drop_index('ix_destruction_records_officer')
        batch_op.drop_index('ix_destruction_records_media')
        batch_op.drop_index('ix_destruction_records_device')

    op.drop_table('destruction_records')
    op.drop_table('cases')
