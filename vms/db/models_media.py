"""SQLAlchemy models of the media side: cameras and PTZ sessions, privacy masks and
their versions and lifts, recording state and gaps, media nodes, camera and job leases,
alarms. Part of the one schema (:mod:`vms.db.models` re-exports every class).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from vms.db.base import Base
from vms.db.types import JSONText, UTCDateTime

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
    # An https camera's pinned certificate: SHA-256 as AB:CD:... (95 characters), learned
    # at onboarding or accepted by an admin; every connection must present it (None: an
    # http camera, or an https one onboarded before 0045 until its next connection).
    tls_fingerprint: Mapped[str | None] = mapped_column(String(95))
    # Or the CA bundle (PEM) the admin gave: the certificate must chain to it and name the
    # camera's host; no pin then.
    tls_ca_pem: Mapped[str | None] = mapped_column(Text)
    # The certificate of its rtsps stream's port, when it is not the ONVIF side's (SHA-256
    # as AB:CD:...), accepted by an admin, or learned at the stream's first connection
    # when the camera has no other pin (None: the stream is checked against the ONVIF
    # pin, or the CA bundle, or learns this one).
    rtsp_tls_fingerprint: Mapped[str | None] = mapped_column(String(95))
    # Where that pin was taken or accepted: the stream's host:port (vms.media.rtsps
    # stream_endpoint). A stream moved elsewhere is not checked against it, nor pinned on
    # first use: refused until an admin accepts what it presents there (None: a pin from
    # before 0047 whose stream was not rtsps, not bound to a place).
    rtsp_tls_endpoint: Mapped[str | None] = mapped_column(String(300))
    # OPS-1 health: online | offline | unknown.
    health: Mapped[str] = mapped_column(String(16))
    health_detail: Mapped[str | None] = mapped_column(String(500))
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    health_checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # Advanced by every change of the camera's PTZ sessions (take, release, take-over,
    # expiry, ...) under the camera's row lock; sent with ptz.session events and the PTZ
    # status so a page applies only what is newer than it has (ptz-arbitration.md P6).
    ptz_session_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


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
    # released | expired | taken_over | released_by_admin | camera_deleted | user_disabled
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
    # Why the footage is missing (docs/design/recording.md, "Gaps"). The camera's:
    # camera_down | stalled | stream_error. The store's: disk_full | store_unavailable.
    # A person's: recording_off | removed. The recorder's own, giving way to the
    # camera's cause once one is known (recorder.recording.RECORDER_CAUSES): added |
    # restart | crash | takeover | stopped | handed over | reconfigured. And error (a
    # segment refused or lost, its writer failed or behind; the detail says which).
    cause: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(500))


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
    # vms.alarms.AlarmKind: camera_offline | video_lost | recording_gap | disk_alarm |
    # mask_blanking | store_missing | purge_clock | backup_failed | no_keyframes
    kind: Mapped[str] = mapped_column(String(32))
    camera_id: Mapped[str | None] = mapped_column(String(64))
    open_key: Mapped[str | None] = mapped_column(String(100))
    raised_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    cleared_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    detail: Mapped[str | None] = mapped_column(String(500))
