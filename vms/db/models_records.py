"""SQLAlchemy models of the records side: preservation requests and legal holds,
cases, review approvals and grants, bookmarks, exports, redactions, media links, the
purge's intents and destruction records, markers, supervisor reviews, tagging notices,
release requests and share links. Part of the one schema (:mod:`vms.db.models`
re-exports every class; the ``retention`` package owns most of the logic,
docs/design/retention.md).
"""

from __future__ import annotations

import datetime as dt
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

from vms.db.base import Base
from vms.db.types import JSONText, UTCDateTime


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
    # Who runs it while running, under a lease it renews (vms/exports/ownership.py): the
    # recovery takes over only an export whose lease expired; the token fences the
    # runner it took over from.
    runner: Mapped[str | None] = mapped_column(String(128))
    runner_token: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    runner_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


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
    # Who runs its step while analysing or rendering, under a lease it renews
    # (vms/row_leases.py, as exports): the recovery takes over only a job whose lease
    # expired; the token fences the runner it took over from.
    runner: Mapped[str | None] = mapped_column(String(128))
    runner_token: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    runner_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


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
    # ACC-7: whether the served item was restricted when the request was approved (set
    # at approval). An item restricted since is not covered by the approval: released
    # and shared no more.
    restricted_at_approval: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )


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
