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
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from vms.db.types import JSONText, UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


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


class PreservationRequest(Base):
    """A written preservation request (RET-2, RET-3, RET-8, RET-9): the request log."""

    __tablename__ = "preservation_requests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    request_number: Mapped[str] = mapped_column(String(64), unique=True)
    requester_name: Mapped[str] = mapped_column(String(200))
    requester_organization: Mapped[str | None] = mapped_column(String(200))
    requester_contact: Mapped[str | None] = mapped_column(String(200))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    received_via: Mapped[str] = mapped_column(String(16))
    received_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    litigation_anticipated: Mapped[bool] = mapped_column(Boolean, default=False)
    case_number: Mapped[str | None] = mapped_column(String(64))
    media_ids: Mapped[list[str]] = mapped_column(JSONText())
    state: Mapped[str] = mapped_column(String(16))
    form_media_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(64))
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    released_by: Mapped[str | None] = mapped_column(String(64))
    release_notice: Mapped[str | None] = mapped_column(String(200))
    release_reason: Mapped[str | None] = mapped_column(Text)


class PreservationScope(Base):
    """One part of a request's scope: a device or an officer over a time window."""

    __tablename__ = "preservation_scopes"
    __table_args__ = (
        Index("ix_preservation_scopes_device", "device_id", "start"),
        Index("ix_preservation_scopes_officer", "officer_badge", "start"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("preservation_requests.id"), index=True)
    device_id: Mapped[str | None] = mapped_column(String(64))
    officer_badge: Mapped[str | None] = mapped_column(String(32))
    start: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    end: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class LegalHold(Base):
    """A legal hold (RET-10): kept until a release notice is recorded."""

    __tablename__ = "legal_holds"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    reference: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(64))
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    released_by: Mapped[str | None] = mapped_column(String(64))
    release_notice: Mapped[str | None] = mapped_column(String(200))


class MediaHold(Base):
    """A media item held by a preservation request or a legal hold.

    No foreign key to ``media_items``: the link outlives a later purge as history.
    """

    __tablename__ = "media_holds"
    __table_args__ = (Index("ix_media_holds_media", "media_id", "released_at"),)

    media_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # preservation | legal
    hold_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    label: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class Case(Base):
    """A case by number; media with this case number are kept while it is open (RET-5)."""

    __tablename__ = "cases"

    case_number: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # open | closed
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    updated_by: Mapped[str] = mapped_column(String(64))


class CaseItem(Base):
    """A media item added to a case by hand, with a note (issue 15.3). Items tagged with
    the case number (``media_items.case_number``) belong to the case without a row here;
    both kinds keep the item while the case is open (RET-5, INV-3).

    No foreign key to ``media_items``: the link outlives a later purge as history (as
    ``media_holds`` do).
    """

    __tablename__ = "case_items"
    __table_args__ = (Index("ix_case_items_media", "media_id"),)

    case_number: Mapped[str] = mapped_column(ForeignKey("cases.case_number"), primary_key=True)
    media_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    note: Mapped[str | None] = mapped_column(Text)
    added_by: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class ReviewApproval(Base):
    """ACC-2: the written approval for an officer to review their own recording of a
    critical incident (death or serious bodily injury), recorded by an admin or the
    officer's supervisor with the document it rests on. No foreign key to
    ``media_items``: the approval stays as history after a purge."""

    __tablename__ = "review_approvals"
    __table_args__ = (Index("ix_review_approvals_media_officer", "media_id", "officer"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    media_id: Mapped[str] = mapped_column(String(36))
    officer: Mapped[str] = mapped_column(String(64))  # the officer's username
    approved_by: Mapped[str] = mapped_column(String(64))
    approved_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # The written approval: a reference (memo number...) or a catalogued document.
    document_ref: Mapped[str | None] = mapped_column(String(200))
    document_media_id: Mapped[str | None] = mapped_column(String(36))
    reason: Mapped[str] = mapped_column(String(500))
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(64))


class ReviewGrant(Base):
    """ACC-3: a time-boxed grant for an officer under investigation to review the
    recordings that capture them (other officers' too), made by an admin."""

    __tablename__ = "review_grants"
    __table_args__ = (Index("ix_review_grants_officer", "officer", "ends_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    officer: Mapped[str] = mapped_column(String(64))  # the officer's username
    granted_by: Mapped[str] = mapped_column(String(64))
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(String(500))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    revoke_reason: Mapped[str | None] = mapped_column(String(500))

    items: Mapped[list[ReviewGrantItem]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )


class ReviewGrantItem(Base):
    """One item of a :class:`ReviewGrant` (no foreign key to ``media_items``: history)."""

    __tablename__ = "review_grant_items"
    __table_args__ = (Index("ix_review_grant_items_media", "media_id"),)

    grant_id: Mapped[str] = mapped_column(
        ForeignKey("review_grants.id", ondelete="CASCADE"), primary_key=True
    )
    media_id: Mapped[str] = mapped_column(String(36), primary_key=True)


class Bookmark(Base):
    """A labelled instant (``end`` null) or range on a fixed camera's timeline or in one
    media item, optionally filed in a case (issue 15.3). Exactly one of ``camera_id`` and
    ``media_id`` is set. No foreign keys to cameras or items: a bookmark stays readable
    after its camera is removed or its item purged."""

    __tablename__ = "bookmarks"
    __table_args__ = (
        Index("ix_bookmarks_case", "case_number", "start"),
        Index("ix_bookmarks_camera", "camera_id", "start"),
        Index("ix_bookmarks_media", "media_id", "start"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_number: Mapped[str | None] = mapped_column(ForeignKey("cases.case_number"))
    camera_id: Mapped[str | None] = mapped_column(String(64))
    media_id: Mapped[str | None] = mapped_column(String(36))
    start: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    end: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    label: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class Export(Base):
    """An evidence export (issue 15, item 4; docs/design/exports.md, "The service and
    the job"): the request as validated, its state (queued, running, done, failed), its
    progress 0..1, and once done the package's catalog item with its SHA-256 and size."""

    __tablename__ = "exports"
    __table_args__ = (
        Index("ix_exports_state", "state", "created_at"),
        Index("ix_exports_creator", "created_by", "created_at"),
        Index("ix_exports_case", "case_number", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    created_role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    purpose: Mapped[str] = mapped_column(String(500))
    case_number: Mapped[str | None] = mapped_column(String(64))
    request: Mapped[dict[str, Any]] = mapped_column(JSONText())
    # No foreign key: the export's record outlives a later purge of its package.
    package_media_id: Mapped[str | None] = mapped_column(String(36))
    sha256: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)


class Redaction(Base):
    """A redaction job (issue 16, item 3; docs/design/redaction.md, "The job"): the
    request as validated (classes to detect, audio ranges to mute), the method, its state
    (queued, analysing, review, rendering, done, failed) and progress 0..1, the tracks
    found and edited (JSON), and once rendered the derived item."""

    __tablename__ = "redactions"
    __table_args__ = (
        Index("ix_redactions_state", "state", "created_at"),
        Index("ix_redactions_media", "media_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # No foreign key: the job's record outlives a later purge of the original.
    media_id: Mapped[str] = mapped_column(String(36))
    state: Mapped[str] = mapped_column(String(16))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    method: Mapped[str] = mapped_column(String(16))
    request: Mapped[dict[str, Any]] = mapped_column(JSONText())
    tracks: Mapped[list[Any]] = mapped_column(JSONText())
    created_by: Mapped[str] = mapped_column(String(64))
    created_role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    rendered_media_id: Mapped[str | None] = mapped_column(String(36))


class MediaLink(Base):
    """A derived item's link to one of the items it was made from (INV-2): an export's
    package and clips link to every stored item they were cut from
    (``media_items.derived_from_id`` holds only the first). No foreign key on the
    source: the link stays as history."""

    __tablename__ = "media_links"
    __table_args__ = (Index("ix_media_links_source", "source_id"),)

    media_id: Mapped[str] = mapped_column(
        ForeignKey("media_items.id", ondelete="CASCADE"), primary_key=True
    )
    source_id: Mapped[str] = mapped_column(String(36), primary_key=True)


class PurgeIntent(Base):
    """The garbage row of INV-3: this item's file is about to be unlinked."""

    __tablename__ = "purge_intents"

    media_id: Mapped[str] = mapped_column(ForeignKey("media_items.id"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(200))
    expired_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    run_id: Mapped[str] = mapped_column(String(36))


class DestructionRecord(Base):
    """What a purge destroyed (RET-13): kept forever, the item row is gone."""

    __tablename__ = "destruction_records"
    __table_args__ = (
        Index("ix_destruction_records_media", "media_id"),
        Index("ix_destruction_records_device", "device_id", "recorded_start"),
        Index("ix_destruction_records_officer", "officer_badge", "recorded_start"),
        Index("ix_destruction_records_purged", "purged_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    media_id: Mapped[str] = mapped_column(String(36))
    sha256: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    device_id: Mapped[str] = mapped_column(String(64))
    officer_badge: Mapped[str | None] = mapped_column(String(32))
    recorded_start: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    recorded_end: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    case_number: Mapped[str | None] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(200))
    expired_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    purged_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    run_id: Mapped[str] = mapped_column(String(36))
    file_unlinked: Mapped[bool] = mapped_column(Boolean)


class MediaMarker(Base):
    """A device marker on a recording (OPS-3): deactivation, mute and their ends, with
    the officer's reason. Goes with its item (a purge deletes the row, the database
    cascades); ``ix_media_markers_kind`` serves the catalog's ``has_marker`` filter."""

    __tablename__ = "media_markers"
    __table_args__ = (
        Index("ix_media_markers_media", "media_id", "at"),
        Index("ix_media_markers_kind", "kind", "media_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    media_id: Mapped[str] = mapped_column(ForeignKey("media_items.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(String(500))


class SupervisorReview(Base):
    """A supervisor's review of one officer video (OPS-6): the monthly report counts
    them per officer. No foreign key to ``media_items``: the review outlives a purge."""

    __tablename__ = "supervisor_reviews"
    __table_args__ = (
        Index("ix_supervisor_reviews_officer", "officer_badge", "reviewed_at"),
        Index("ix_supervisor_reviews_reviewed", "reviewed_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    media_id: Mapped[str] = mapped_column(String(36))
    officer_badge: Mapped[str] = mapped_column(String(32))
    reviewer: Mapped[str] = mapped_column(String(64))
    reviewer_role: Mapped[str] = mapped_column(String(32))
    reviewed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(Text)


class TaggingNotice(Base):
    """A daily notice that a BWC/dash item is untagged past the deadline (TAG-3)."""

    __tablename__ = "tagging_notices"
    __table_args__ = (
        UniqueConstraint("media_id", "day", name="uq_tagging_notices_media_day"),
        Index("ix_tagging_notices_officer", "officer_badge", "day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    media_id: Mapped[str] = mapped_column(String(36))
    day: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD (UTC)
    officer_badge: Mapped[str | None] = mapped_column(String(32))
    supervisor: Mapped[str | None] = mapped_column(String(64))
    notified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


# -- cameras and PTZ (the ``onvif_control`` package owns the logic; issue 4) ---------


class Camera(Base):
    """An onboarded ONVIF camera. ``id`` is also its catalog device id (``devices.id``).

    The password is stored encrypted (``password_enc``) with a key kept outside the
    database (``secrets/credentials.key``).
    """

    __tablename__ = "cameras"

    id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # Where the camera is (a street corner), shown beside its name (issue 15.5).
    location: Mapped[str | None] = mapped_column(String(200))
    onvif_url: Mapped[str] = mapped_column(String(500))
    username: Mapped[str] = mapped_column(String(200))
    password_enc: Mapped[str] = mapped_column(Text)
    manufacturer: Mapped[str | None] = mapped_column(String(200))
    model: Mapped[str | None] = mapped_column(String(200))
    firmware: Mapped[str | None] = mapped_column(String(200))
    serial: Mapped[str | None] = mapped_column(String(200))
    profile_token: Mapped[str] = mapped_column(String(200))
    sub_profile_token: Mapped[str | None] = mapped_column(String(200))
    main_stream_uri: Mapped[str | None] = mapped_column(String(1000))
    sub_stream_uri: Mapped[str | None] = mapped_column(String(1000))
    # Profiles, PTZ node spaces and limits, presets as read at onboarding.
    capabilities: Mapped[dict[str, Any]] = mapped_column(JSONText())
    presets: Mapped[list[dict[str, Any]]] = mapped_column(JSONText())
    calibration: Mapped[dict[str, Any]] = mapped_column(JSONText())
    ptz_supported: Mapped[bool] = mapped_column(Boolean, default=False)
    # OPS-1 health: online | offline | unknown.
    health: Mapped[str] = mapped_column(String(16))
    health_detail: Mapped[str | None] = mapped_column(String(500))
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    health_checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class PtzSession(Base):
    """A PTZ control session (PSCS-2, INV-6): who steers which camera, and why.

    At most one open session (``ended_at`` null) per camera; arbitration runs in a
    transaction that locks the camera row, so several processes agree.
    """

    __tablename__ = "ptz_sessions"
    __table_args__ = (
        Index("ix_ptz_sessions_camera_open", "camera_id", "ended_at"),
        Index("ix_ptz_sessions_user", "username", "started_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    username: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    priority: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(32))
    incident_number: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    # A maintenance reservation by an admin: nobody else gets control until released.
    reservation: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_activity_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # released | expired | taken_over | released_by_admin | camera_deleted
    end_reason: Mapped[str | None] = mapped_column(String(32))
    ended_by: Mapped[str | None] = mapped_column(String(64))


# -- privacy masks and recording (``privacy_masks`` and ``recorder``; issue 5) --------


class PrivacyMask(Base):
    """One version of a privacy mask (PSCS-1): a polygon on the camera's view sphere.

    Rows are never edited: a change closes the row (``to_version``) and adds a new one, a
    deletion closes it, so the masks in force at any mask version can be listed
    (``from_version <= v`` and ``to_version`` null or ``> v``).
    """

    __tablename__ = "privacy_masks"
    __table_args__ = (Index("ix_privacy_masks_camera", "camera_id", "to_version"),)

    row_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    mask_id: Mapped[str] = mapped_column(String(36))
    camera_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    # [[pan, tilt], ...] in degrees, edges straight in (pan, tilt).
    polygon: Mapped[list[list[float]]] = mapped_column(JSONText())
    from_version: Mapped[int] = mapped_column(Integer)
    to_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(64))


class MaskVersion(Base):
    """A camera's current mask version: every mask change bumps it (recorded on segments)."""

    __tablename__ = "mask_versions"

    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class MaskLiftRow(Base):
    """A time-boxed lift of one privacy mask (PSCS-1 exception, issue 14 item 6): granted
    by an admin for a stated reason, in force from ``starts_at`` to ``ends_at`` (or
    ``ended_at`` when ended early); ``from_version``/``to_version`` are the camera's mask
    versions that began and ended it, so footage recorded under ``from_version`` is known
    to have been captured with the mask lifted."""

    __tablename__ = "mask_lifts"
    __table_args__ = (Index("ix_mask_lifts_camera", "camera_id", "ended_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    mask_id: Mapped[str] = mapped_column(String(36))
    mask_name: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(500))
    granted_by: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    from_version: Mapped[int] = mapped_column(Integer)
    to_version: Mapped[int | None] = mapped_column(Integer)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    ended_by: Mapped[str | None] = mapped_column(String(64))


class RecordingState(Base):
    """Whether a camera is recorded (on by default when no row exists); changes audited."""

    __tablename__ = "recording_states"

    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    changed_by: Mapped[str] = mapped_column(String(64))


class RecordingGap(Base):
    """A gap in a camera's recording with its cause (OPS-4); ``end`` null while open."""

    __tablename__ = "recording_gaps"
    __table_args__ = (Index("ix_recording_gaps_camera", "camera_id", "start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    start: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    end: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # camera_down | stalled | disk_full | recording_off | crash | error
    cause: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(500))


class ReleaseRequest(Base):
    """A release request (issue 16.5; REL-1, ACC-5, ACC-9, REL-3, REL-4): FOIA, another
    agency, a court order, the media or internal affairs, with its approval decision."""

    __tablename__ = "release_requests"
    __table_args__ = (Index("ix_release_requests_state_due", "state", "due_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    request_number: Mapped[str] = mapped_column(String(64))
    requester_name: Mapped[str] = mapped_column(String(200))
    requester_organization: Mapped[str | None] = mapped_column(String(200))
    requester_contact: Mapped[str | None] = mapped_column(String(200))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    legal_basis: Mapped[str] = mapped_column(Text)
    document_media_id: Mapped[str | None] = mapped_column(String(36))
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    released_by: Mapped[str | None] = mapped_column(String(64))
    # REL-4: an internal-affairs release recorded as a secondary copy.
    secondary_copy: Mapped[bool] = mapped_column(Boolean, default=False)


class ReleaseItem(Base):
    """One item of a release request: what the request named (an export id or a media
    id) and the catalog item served (the export's package, or the media item). No
    foreign keys: the request outlives a later purge as history."""

    __tablename__ = "release_items"

    release_id: Mapped[str] = mapped_column(
        ForeignKey("release_requests.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    export_id: Mapped[str | None] = mapped_column(String(36))
    media_id: Mapped[str] = mapped_column(String(36))


class ShareLink(Base):
    """A link for outsiders to a released request's packages (issue 16.6): only the
    SHA-256 of the random token is stored."""

    __tablename__ = "share_links"
    __table_args__ = (Index("ix_share_links_release", "release_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    release_id: Mapped[str] = mapped_column(ForeignKey("release_requests.id", ondelete="CASCADE"))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    max_downloads: Mapped[int] = mapped_column(Integer)
    downloads: Mapped[int] = mapped_column(Integer, default=0)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(64))


class MediaNode(Base):
    """A media node of the cluster (issue 13, item 1; recorder/ownership.py): it writes
    ``heartbeat_at`` every round; one silent for a camera lease is dead to the others."""

    __tablename__ = "media_nodes"

    node_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    internal_url: Mapped[str | None] = mapped_column(String(500))
    capacity: Mapped[int] = mapped_column(Integer, default=0)  # cameras; 0: no limit
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class CameraLease(Base):
    """Which media node records a camera (issue 13, item 1). ``token`` grows with every
    claim: a fencing token the segment ingest checks, so a node that stalled and lost
    the camera cannot add its segments after the takeover. ``pinned_node``: an admin's
    choice, honoured while that node is alive."""

    __tablename__ = "camera_leases"

    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    node_id: Mapped[str | None] = mapped_column(String(200))
    token: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    pinned_node: Mapped[str | None] = mapped_column(String(200))


class JobLease(Base):
    """Who runs a cluster-wide scheduled job now, and when it last ran (issue 13, item 5;
    :mod:`vms.leases`). ``token`` grows with every claim (a fencing token: a holder whose
    lease was taken over cannot renew or release it); ``expires_at`` null: free."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(200))
    token: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class AlarmRow(Base):
    """An alarm shown to the operators (issue 12.3, :mod:`vms.alarms`): raised from an
    event, cleared when the condition ends, acknowledged (audited) by an operator.
    ``open_key`` is ``<kind>:<camera or ->`` while the alarm is open and null once
    cleared: its unique index keeps one open alarm per kind and camera, whichever process
    raises it."""

    __tablename__ = "alarms"
    __table_args__ = (
        Index("ix_alarms_raised", "raised_at"),
        Index("ix_alarms_camera", "camera_id", "raised_at"),
        UniqueConstraint("open_key", name="uq_alarms_open_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # camera_offline | video_lost | recording_gap | disk_alarm | mask_blanking
    kind: Mapped[str] = mapped_column(String(32))
    camera_id: Mapped[str | None] = mapped_column(String(64))
    open_key: Mapped[str | None] = mapped_column(String(100))
    raised_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    cleared_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    detail: Mapped[str | None] = mapped_column(String(500))
