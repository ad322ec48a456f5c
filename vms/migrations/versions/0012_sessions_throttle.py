"""server-side web sessions and per-address/per-account login throttling

``web_sessions`` holds the browser sessions (the cookie carries only a random id whose
SHA-256 is the key), so logout, a password change and ``vms user disable`` revoke them.
``login_throttle`` replaces ``login_attempts``: one row of counters per address and per
account instead of a row per try (docs/design/security.md, "Login throttling"). The
old attempts only fed a 300 s window and are dropped.

Revision ID: 0012
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vms.db.types

revision = "0012"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", vms.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("next_allowed_at", vms.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("refused_since", vms.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reported_at", vms.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", vms.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", vms.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", vms.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", vms.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("remote_addr", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_web_sessions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_web_sessions")),
    )
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_web_sessions_user_id"), ["user_id"], unique=False)
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_login_attempts_username_at")
    op.drop_table("login_attempts")


def downgrade() -> None:
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("remote_addr", sa.String(length=64), nullable=False),
        sa.Column("at", vms.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
    )
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_login_attempts_username_at", ["username", "at"], unique=False)
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_sessions_user_id"))
    op.drop_table("web_sessions")
    op.drop_table("login_throttle")
