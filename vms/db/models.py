"""SQLAlchemy 2.0 typed models: catalog, users, tokens, uploads, audit.

Columns are ``Mapped[X | None]`` exactly where nullable. Times are :class:`UTCDateTime`.
The schema itself is built by the Alembic migrations in ``vms/migrations``; a test checks
that the migrations and these models agree.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vms.db.base import NAMING as NAMING
from vms.db.base import Base as Base
from vms.db.models_media import AlarmRow as AlarmRow
from vms.db.models_media import Camera as Camera
from vms.db.models_media import CameraLease as CameraLease
from vms.db.models_media import JobLease as JobLease
from vms.db.models_media import MaskLiftRow as MaskLiftRow
from vms.db.models_media import MaskVersion as MaskVersion
from vms.db.models_media import MediaNode as MediaNode
from vms.db.models_media import PrivacyMask as PrivacyMask
from vms.db.models_media import PtzSession as PtzSession
from vms.db.models_media import RecordingGap as RecordingGap
from vms.db.models_media import RecordingState as RecordingState
from vms.db.models_records import Bookmark as Bookmark
from vms.db.models_records import Case as Case
from vms.db.models_records import CaseItem as CaseItem
from vms.db.models_records import DestructionRecord as DestructionRecord
from vms.db.models_records import Export as Export
from vms.db.models_records import LegalHold as LegalHold
from vms.db.models_records import MediaHold as MediaHold
from vms.db.models_records import MediaLink as MediaLink
from vms.db.models_records import MediaMarker as MediaMarker
from vms.db.models_records import PreservationRequest as PreservationRequest
from vms.db.models_records import PreservationScope as PreservationScope
from vms.db.models_records import PurgeIntent as PurgeIntent
from vms.db.models_records import Redaction as Redaction
from vms.db.models_records import ReleaseItem as ReleaseItem
from vms.db.models_records import ReleaseRequest as ReleaseRequest
from vms.db.models_records import ReviewApproval as ReviewApproval
from vms.db.models_records import ReviewGrant as ReviewGrant
from vms.db.models_records import ReviewGrantItem as ReviewGrantItem
from vms.db.models_records import ShareLink as ShareLink
from vms.db.models_records import SupervisorReview as SupervisorReview
from vms.db.models_records import TaggingNotice as TaggingNotice
from vms.db.types import JSONText, UTCDateTime


class SourceKind(enum.StrEnum):
    """Where a media item came from."""

    FIXED = "fixed"
    BWC = "bwc"
    DASH = "dash"
    HANDHELD = "handheld"
    EXPORT = "export"
    REDACTED = "redacted"


# Sources a device or an upload can name; export/redacted are derived items only.
CAPTURE_SOURCES = frozenset(
    {SourceKind.FIXED, SourceKind.BWC, SourceKind.DASH, SourceKind.HANDHELD}
)


class MediaType(enum.StrEnum):
    VIDEO = "video"
    AUDIO = "audio"
    DOCUMENT = "document"


class Role(enum.StrEnum):
    ADMIN = "admin"
    DISPATCHER = "dispatcher"
    RECORDS_COMMANDER = "records_commander"
    INVESTIGATOR = "investigator"
    AUDITOR = "auditor"
    SUPERVISOR = "supervisor"
    OFFICER = "officer"
    # The chief or designee who approves releases to outside parties (ACC-5, issue 16.5).
    RELEASE_APPROVER = "release_approver"


class Device(Base):
    """A capture device: fixed camera, body-worn camera, dash camera, handheld recorder."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class DeviceAssignment(Base):
    """A capture device issued to an officer (BWC-to-officer, issue #10.1). When
    ``[ingest] device_assignment`` is on, a user may ingest as a device only for an
    officer it is assigned to. A device may be assigned to several officers (a shared
    dash camera); assigning and unassigning are audited (ACC-6)."""

    __tablename__ = "device_assignments"
    __table_args__ = (Index("ix_device_assignments_officer", "officer_badge"),)

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    officer_badge: Mapped[str] = mapped_column(ForeignKey("officers.badge"), primary_key=True)
    assigned_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    assigned_by: Mapped[str] = mapped_column(String(64))


class Officer(Base):
    """An officer, by badge number. The supervisor is on the officer's user (ACC-8)."""

    __tablename__ = "officers"

    badge: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    badge: Mapped[str | None] = mapped_column(ForeignKey("officers.badge"))
    supervisor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # The live wall's layout this user chose (1, 4, 9 or 16 tiles; null: the default).
    wall_layout: Mapped[int | None] = mapped_column(Integer)


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class LoginThrottle(Base):
    """Failed sign-ins per address (``addr:<ip>``) and per account (``user:<name>``),
    shared by every web process (docs/design/security.md, "Login throttling")."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    # Password checks reserved in the memory window (a success gives its own back).
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Back-off: no password check for this key before then.
    next_allowed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Refused tries not yet in the audit log, since when, and the last aggregated entry.
    refused: Mapped[int] = mapped_column(Integer, default=0)
    refused_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    reported_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class WebSession(Base):
    """A signed-in browser session. The cookie carries the random id; only its SHA-256
    is stored, so logout, a password change or ``vms user disable`` revokes it."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    remote_addr: Mapped[str] = mapped_column(String(64))


class MediaItem(Base):
    """One stored file in the unified catalog (fixed segments, BWC, dash, documents...)."""

    __tablename__ = "media_items"
    __table_args__ = (
        UniqueConstraint("device_id", "sha256", name="uq_media_items_device_sha256"),
        Index("ix_media_items_newest", "recorded_start", "id"),
        Index("ix_media_items_device_time", "device_id", "recorded_start", "id"),
        Index("ix_media_items_officer_time", "officer_badge", "recorded_start", "id"),
        Index("ix_media_items_source_time", "source", "recorded_start", "id"),
        Index("ix_media_items_case", "case_number"),
        Index("ix_media_items_sha256", "sha256"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    media_type: Mapped[str] = mapped_column(String(16))
    content_type: Mapped[str] = mapped_column(String(100))
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"))
    officer_badge: Mapped[str | None] = mapped_column(ForeignKey("officers.badge"))
    recorded_start: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    recorded_end: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    codec: Mapped[str | None] = mapped_column(String(32))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    original_filename: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(500))
    case_number: Mapped[str | None] = mapped_column(String(64))
    incident_number: Mapped[str | None] = mapped_column(String(64))
    incident_type: Mapped[str | None] = mapped_column(String(100))
    evidence: Mapped[bool] = mapped_column(Boolean, default=False)
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    # Privacy-sensitive footage (ACC-11, REL-3): released only as a redacted derivative
    # unless a court order overrides it (retention/releases.py).
    privacy_sensitive: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # ACC-2: the recording is of an incident with death or serious bodily injury; the
    # officer who recorded it reviews it only with a recorded written approval.
    critical_incident: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # OPS-2: the seconds of pre-event buffer at the head of the file, as the device or
    # uploader stated it; None: not stated (fixed cameras have none).
    pre_event_buffer_seconds: Mapped[int | None] = mapped_column(Integer)
    derived_from_id: Mapped[str | None] = mapped_column(ForeignKey("media_items.id"))
    ingested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ingested_by: Mapped[str] = mapped_column(String(64))
    # The time the recorded start came from: container metadata, the uploader, or ingest.
    recorded_start_origin: Mapped[str] = mapped_column(String(16))

    categories: Mapped[list[MediaCategory]] = relationship(
        back_populates="media", cascade="all, delete-orphan", lazy="selectin"
    )
    # Set by the retention plugin (RET-12), in its own narrow table (see MediaExpiry).
    expiry: Mapped[MediaExpiry | None] = relationship(
        cascade="all, delete-orphan", lazy="selectin", passive_deletes=True
    )

    @property
    def expires_at(self) -> dt.datetime | None:
        """When the item may be purged; None: never computed, or kept while held."""
        return self.expiry.expires_at if self.expiry is not None else None

    @property
    def retention_rule(self) -> str | None:
        """Which rule decided :attr:`expires_at` ("RET-1 fixed 30 days"...)."""
        return self.expiry.retention_rule if self.expiry is not None else None


class MediaExpiry(Base):
    """A media item's stored retention decision (RET-12): a cache of the pure rules that
    the purge walks in ``(expires_at, media_id)`` order and the catalog shows.

    Its own narrow table, not columns of ``media_items``: recomputing a million expiries
    after a policy change then rewrites a small row and two index entries per item, not
    the wide item row and all of its indexes (docs/design/retention.md). No row: never
    computed yet (the purge computes those first).
    """

    __tablename__ = "media_expiry"
    __table_args__ = (Index("ix_media_expiry_expires", "expires_at", "media_id"),)

    media_id: Mapped[str] = mapped_column(
        ForeignKey("media_items.id", ondelete="CASCADE"), primary_key=True
    )
    # None: no expiry, the item is held (RET-2, RET-5, RET-10).
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    retention_rule: Mapped[str] = mapped_column(String(200))


class MediaCategory(Base):
    __tablename__ = "media_categories"
    __table_args__ = (
        Index("ix_media_categories_category_time", "category", "recorded_start", "media_id"),
    )

    media_id: Mapped[str] = mapped_column(
        ForeignKey("media_items.id", ondelete="CASCADE"), primary_key=True
    )
    category: Mapped[str] = mapped_column(String(100), primary_key=True)
    # A copy of the item's recorded start (which never changes after ingest), so a
    # category search walks one index in time order (docs/design/storage.md).
    recorded_start: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    media: Mapped[MediaItem] = relationship(back_populates="categories")


class CustodyEvent(Base):
    """Chain of custody of one media item: ingest, access, changes, exports."""

    __tablename__ = "custody_events"
    __table_args__ = (Index("ix_custody_events_media", "media_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    media_id: Mapped[str] = mapped_column(ForeignKey("media_items.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    details: Mapped[dict[str, Any]] = mapped_column(JSONText())


class Upload(Base):
    """A resumable upload in progress (TAG-5)."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    state: Mapped[str] = mapped_column(String(16))
    metadata_json: Mapped[dict[str, Any]] = mapped_column(JSONText())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    media_id: Mapped[str | None] = mapped_column(ForeignKey("media_items.id", ondelete="SET NULL"))
    error: Mapped[str | None] = mapped_column(Text)


class AuditEntry(Base):
    """One link of the tamper-evident audit chain (INV-4). See docs/design/audit-chain.md."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_at", "at"),
        Index("ix_audit_entries_actor", "actor", "seq"),
        Index("ix_audit_entries_action", "action", "seq"),
        Index("ix_audit_entries_target", "target", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSONText())
    outcome: Mapped[str] = mapped_column(String(16))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditMention(Base):
    """An index over the chained details (vms/audit/mentions.py): entry ``seq`` showed
    or touched ``target`` ("media:<id>", "camera:<id>" ...) besides its own target."""

    __tablename__ = "audit_mentions"

    target: Mapped[str] = mapped_column(String(200), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class AuditHead(Base):
    """The single row that serialises audit writers and remembers the last link."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A signed checkpoint of the audit chain (docs/design/audit-chain.md): the entry
    ``seq``, its chain hash, the public chain digest up to it, the time, and the Ed25519
    signature of those (key outside the database). Also appended to the checkpoint log
    file outside the database."""

    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    entry_hash: Mapped[str] = mapped_column(String(64))
    chain_digest: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))
    key_fingerprint: Mapped[str] = mapped_column(String(64))


# -- retention (the ``retention`` package owns the logic; docs/design/retention.md) ------

# Deleting a media row makes the database look for rows that reference it: without these
# indexes every purged item costs a scan of media_items (derived copies) and uploads.
Index("ix_media_items_derived_from", MediaItem.derived_from_id)
Index("ix_uploads_media", Upload.media_id)
