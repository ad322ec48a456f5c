"""One typed configuration (STYLE practice 5): the settings, a frozen dataclass per
section (the media side's in :mod:`vms.config_media`), and :class:`Config`.

:mod:`vms.config_load` builds it (defaults, then the TOML file, then ``VMS_*``
environment variables); its :func:`load_config` and :func:`setting_names` are
re-exported here. Every setting is documented in ``docs/configuration.md``, which a test
keeps in step with these classes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from pathlib import Path
from urllib.parse import urlsplit

from vms.clock import agency_zone
from vms.config_limits import check_limits
from vms.config_load import NON_SETTING_ENV as NON_SETTING_ENV
from vms.config_load import NON_SETTING_ENV_PREFIXES as NON_SETTING_ENV_PREFIXES
from vms.config_load import check_pairs
from vms.config_load import load_config as load_config
from vms.config_load import setting_names as setting_names
from vms.config_media import (
    DEFAULT_REDACTION_CLASSES as DEFAULT_REDACTION_CLASSES,
)
from vms.config_media import CamerasConfig as CamerasConfig
from vms.config_media import PrivacyMasksConfig as PrivacyMasksConfig
from vms.config_media import PtzConfig as PtzConfig
from vms.config_media import RecorderConfig as RecorderConfig
from vms.config_media import RedactionConfig as RedactionConfig
from vms.config_media import WebrtcConfig as WebrtcConfig
from vms.db.models import Role
from vms.errors import InvalidArgument
from vms.urls import redact_credentials

#: Packets a camera's segment writer queues before it drops new ones (recorder.segments);
#: at 30 fps they span SEGMENT_QUEUE_SECONDS, the longest a segment upload may hold it.
SEGMENT_QUEUE_PACKETS = 3000
SEGMENT_QUEUE_SECONDS = SEGMENT_QUEUE_PACKETS / 30


@dataclasses.dataclass(frozen=True)
class WebConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    session_hours: float = 12.0
    token_hours: float = 24.0
    # Login throttling (docs/design/security.md): free failed sign-ins per address and
    # per account, how long failures are remembered, then a back-off from the first
    # delay doubling up to the longest.
    login_max_failures: int = 5
    login_window_seconds: int = 300
    login_delay_seconds: float = 1.0
    login_max_delay_seconds: float = 60.0
    # Long streams (MJPEG, Socket.IO) re-check their session or token this often and
    # close when it was revoked or the user disabled.
    stream_recheck_seconds: float = 10.0
    # MJPEG streams one user may hold open at once on a media node (0: no limit); one
    # more is refused with 429. Each holds a server thread (of ``threads``) while it
    # lasts; a 16-tile wall whose WebRTC failed everywhere falls back to 16.
    max_mjpeg_streams_per_user: int = 16
    # Socket.IO connections one user may hold open at once to one web process (0: no
    # limit); one more is refused. Each holds a server thread while it lasts (one a tab).
    max_sockets_per_user: int = 16
    # Socket.IO fan-out between several web processes (a redis:// URL); empty: the
    # top-level ``redis_url`` (and with that empty too: one process).
    message_queue: str = ""
    # ``vms serve --role web`` under gunicorn (docs/design/ports-and-roles.md): worker
    # processes (``--workers``) and threads per worker (gthread; one thread per open
    # Socket.IO or MJPEG connection).
    workers: int = 1
    threads: int = 100
    max_upload_bytes: int = 256 * 1024**3
    max_chunk_bytes: int = 256 * 1024**2
    # Largest request body of every other route (issue 10, item 6); larger: 413.
    max_body_bytes: int = 1024**2
    # JSON bodies nested deeper than this are refused (400).
    max_json_depth: int = 32
    # Reverse proxies in front of the web role whose X-Forwarded-For/-Proto/-Host are
    # trusted (werkzeug ProxyFix); 0: none, the headers are ignored.
    trusted_proxies: int = 0
    # Mark the session cookie Secure (set when served over HTTPS behind a proxy).
    secure_cookies: bool = False

    def __post_init__(self) -> None:
        if not self.host.strip():
            # gunicorn and werkzeug bind "" as every address: the default is loopback.
            raise InvalidArgument(
                "[web] host must name an address (0.0.0.0 for every IPv4 address), not ''"
            )
        for name in ("workers", "threads"):
            if getattr(self, name) < 1:
                raise InvalidArgument(f"[web] {name} must be at least 1, not {getattr(self, name)}")
        for name in ("max_mjpeg_streams_per_user", "max_sockets_per_user"):
            if getattr(self, name) < 0:
                raise InvalidArgument(
                    f"[web] {name} must be 0 (no limit) or more, not {getattr(self, name)}"
                )


@dataclasses.dataclass(frozen=True)
class OpsConfig:
    """Health and metrics (issue 13, item 7; docs/design/operations.md)."""

    # Each readiness check (database, media store, Redis) gives up after this long.
    ready_timeout_seconds: float = 2.0

    def __post_init__(self) -> None:
        if not self.ready_timeout_seconds > 0:
            raise InvalidArgument(
                f"[ops] ready_timeout_seconds must be above 0, not {self.ready_timeout_seconds}"
            )


@dataclasses.dataclass(frozen=True)
class IngestConfig:
    # How often the dock folder is scanned, and how long a file must stay unchanged
    # before it is taken (a device may still be writing it).
    dock_scan_seconds: float = 10.0
    dock_settle_seconds: float = 5.0
    # A sidecar with no file of its name that has not changed for this long is reported
    # (moved to rejected/ with the reason, TAG-5): the station's copy of the file failed.
    dock_orphan_sidecar_seconds: float = 3600.0
    copy_buffer_bytes: int = 256 * 1024
    # Minimum free space in the media store; ingest refuses below it (full-disk safety).
    # The recorder's reserve: the smaller of the two, so recording outlasts uploads.
    min_free_bytes: int = 256 * 1024**2
    # Plausible recorded times (issue #10.2): a recorded_at given by an uploader, a dock
    # sidecar or the CLI, or read from the container, is refused (400) when it is later
    # than the ingest time plus this many seconds, or older than this many days.
    recorded_at_max_future_seconds: float = 86400.0
    recorded_at_max_age_days: int = 3652
    # BWC-to-officer (issue #10.1): when on, uploads, dock and CLI imports may name a
    # device only for an officer it is assigned to (``vms device assign``, the devices
    # API). Off by default: any non-camera device id is accepted.
    device_assignment: bool = False
    # The most pixels a video frame of an ingested file may have (the probe decodes the
    # first frame, allocating it whole): larger is refused with a 400 naming the size.
    probe_max_frame_pixels: int = 8192 * 4320
    # Free space user uploads must leave once every open upload has its declared bytes
    # (never less than min_free_bytes): uploads get a 507 before recording is refused.
    upload_min_free_bytes: int = 2 * 1024**3
    # Per-user limit on the declared bytes of that user's open uploads (0: no limit).
    upload_user_open_bytes: int = 256 * 1024**3
    # Per-user limit on how many uploads that user may have open (0: no limit); one more
    # is refused with 429.
    upload_user_open_uploads: int = 100
    # Unfinished uploads untouched this long are removed (and audited) by a job.
    upload_stale_hours: float = 24.0

    def __post_init__(self) -> None:
        if self.probe_max_frame_pixels < 1:
            raise InvalidArgument(
                "[ingest] probe_max_frame_pixels must be at least 1, not "
                f"{self.probe_max_frame_pixels}"
            )


@dataclasses.dataclass(frozen=True)
class StoreConfig:
    # Where stored originals live (docs/design/storage.md, "S3 backend"): "local" (the
    # media folder in the data dir, the default) or "s3" (an S3-compatible object store;
    # the media folder then keeps only temp files, locks and the quarantine).
    backend: str = "local"
    # The S3 endpoint URL (empty: AWS's own), bucket, region and access key id.
    endpoint: str = ""
    bucket: str = ""
    region: str = "us-east-1"
    access_key_id: str = ""
    # The secret access key; better kept in <data_dir>/secrets/s3-secret-key (mode 0600),
    # read when this is empty. Never logged nor shown.
    secret_access_key: str = dataclasses.field(default="", repr=False)
    # Objects are named <prefix>objects/ab/cd/<sha256>; several installations may share a
    # bucket under different prefixes.
    prefix: str = ""
    # Signed audit checkpoints are also written to the bucket (issue 14.1), one object
    # each under <prefix>audit-checkpoints/, with a legal hold where Object Lock is on.
    audit_checkpoints: bool = True
    # Connections the S3 client keeps, and the part size of multipart uploads.
    max_connections: int = 10
    part_bytes: int = 64 * 1024**2
    # A recorder segment's upload (INV-1): each request to the store waits at most this
    # long to connect and for each read, and is tried this many times, so a store that
    # hangs turns within seconds into the segment kept in the spool for retry, instead
    # of holding the camera's segment writer (whose queue holds about 200 s) for minutes
    # (the client's general settings: 3 tries of up to 120 s each).
    segment_timeout_seconds: float = 5.0
    segment_attempts: int = 2

    def __post_init__(self) -> None:
        if self.backend not in ("local", "s3"):
            raise InvalidArgument(f'[store] backend must be "local" or "s3", not {self.backend!r}')
        endpoint = urlsplit(self.endpoint)
        if self.endpoint and (endpoint.scheme not in ("http", "https") or not endpoint.hostname):
            # botocore raised ValueError "Invalid endpoint" only when the services opened.
            raise InvalidArgument(
                f"[store] endpoint: {self.endpoint!r} is not an http:// or https:// URL"
            )
        if self.backend == "s3" and not self.bucket:
            raise InvalidArgument('[store] backend = "s3" needs [store] bucket')
        if not 5 * 1024**2 <= self.part_bytes <= 5 * 1024**3:
            # Files up to a part are read whole into memory and sent in one request; S3
            # takes no part, nor single upload, above 5 GiB.
            raise InvalidArgument(
                f"[store] part_bytes must be at least 5 MiB and at most 5 GiB (S3's smallest "
                f"and largest part), not {self.part_bytes}"
            )
        if self.max_connections < 1:
            raise InvalidArgument(
                f"[store] max_connections must be at least 1, not {self.max_connections}"
            )
        if not self.segment_timeout_seconds > 0:
            raise InvalidArgument(
                "[store] segment_timeout_seconds must be above 0, not "
                f"{self.segment_timeout_seconds}"
            )
        if self.segment_attempts < 1:
            raise InvalidArgument(
                f"[store] segment_attempts must be at least 1, not {self.segment_attempts}"
            )
        # INV-1: a store that does not answer holds the writer for 2 requests (PUT, HEAD)
        # x 2 waits (connect, read) x each try; longer than its queue holds, packets drop.
        worst = 4 * self.segment_timeout_seconds * self.segment_attempts
        if worst > SEGMENT_QUEUE_SECONDS:
            raise InvalidArgument(
                f"[store] segment_timeout_seconds ({self.segment_timeout_seconds}) x "
                f"segment_attempts ({self.segment_attempts}) lets a segment upload hold the "
                f"camera's segment writer for up to {worst:g} s (2 requests, each a connect "
                f"and a read wait per try); it must be at most {SEGMENT_QUEUE_SECONDS:g} s, "
                f"what the writer's queue of {SEGMENT_QUEUE_PACKETS} packets holds at 30 fps"
            )


@dataclasses.dataclass(frozen=True)
class RetentionConfig:
    fixed_days: int = 30  # RET-1
    bwc_days: int = 90  # RET-4
    dash_days: int = 90  # RET-4
    handheld_days: int = 90
    evidence_days: int = 1461  # RET-7
    purge_interval_minutes: float = 10.0
    # Items purged per batch: one intent transaction, one unlink pass, one commit (INV-3).
    purge_batch_size: int = 500
    # Below this much free space in the media store, with nothing expired left to purge,
    # the purge job raises the disk alarm (held media is never deleted for space, INV-3).
    disk_alarm_free_bytes: int = 2 * 1024**3
    # The purge refuses to run (alarm; `vms purge --confirm-clock` overrides) when its
    # clock reads more than this past its previous run: the clock jumped, or the jobs
    # role was down that long (RET-1, INV-3; docs/design/retention.md).
    purge_clock_max_gap_hours: float = 72.0
    # PostgreSQL: the purge refuses when its clock and the database server's are more
    # than this apart (0: not compared).
    purge_clock_max_skew_seconds: float = 900.0


@dataclasses.dataclass(frozen=True)
class TaggingConfig:
    deadline_hours: float = 72.0  # TAG-3
    # A TOML or JSON file replacing the default (Denver) category list (TAG-4).
    categories_file: str = ""


@dataclasses.dataclass(frozen=True)
class ReviewsConfig:
    # OPS-6: supervisor reviews required per officer per month (Denver 5.12.6.1: two);
    # the monthly audit lists the officers below it (docs/design/monthly-audit.md).
    per_officer_month: int = 2

    def __post_init__(self) -> None:
        if not 0 <= self.per_officer_month <= 1000:
            raise InvalidArgument(
                f"[reviews] per_officer_month must be 0..1000, not {self.per_officer_month}"
            )


@dataclasses.dataclass(frozen=True)
class AccessConfig:
    """Access rules (issue 14.4; docs/design/access-rules.md)."""

    # ACC-4: the purposes a reviewer outside their own scope (not their own or their
    # supervised officers' recordings) states when opening media content, comma
    # separated (from the seeds: 000 G.1-G.3, 001 4.4, 002 432.11).
    # The agency presets set it (``access.review_purposes``, vms/policy/agencies).
    review_purposes: str = (
        "report_writing,investigation,internal_affairs,legal,prosecution,training,technical"
    )
    # ACC-11: the roles that may see a privacy-sensitive item's content (play, download,
    # export, redact), comma separated; the others see its metadata only. Default and
    # why: docs/design/access-rules.md, "ACC-11".
    privacy_sensitive_roles: str = "admin,investigator,records_commander"

    def __post_init__(self) -> None:
        if not self.purpose_list:
            raise InvalidArgument("[access] review_purposes must name at least one purpose")
        self.privacy_roles  # noqa: B018 (checks the names)

    @property
    def privacy_roles(self) -> frozenset[Role]:
        """``privacy_sensitive_roles`` as roles (ACC-11); an unknown name is refused."""
        roles = set()
        for name in (n.strip() for n in self.privacy_sensitive_roles.split(",")):
            if not name:
                continue
            try:
                roles.add(Role(name))
            except ValueError:
                raise InvalidArgument(
                    f"[access] privacy_sensitive_roles names {name!r}, not a role: "
                    f"{', '.join(r.value for r in Role)}"
                ) from None
        if Role.ADMIN not in roles:
            raise InvalidArgument(
                "[access] privacy_sensitive_roles must include admin (ACC-11: the system "
                "administrator places and lifts the protection)"
            )
        return frozenset(roles)

    @property
    def purpose_list(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.review_purposes.split(",") if p.strip())


@dataclasses.dataclass(frozen=True)
class AuditConfig:
    # A signed checkpoint of the audit chain (docs/design/audit-chain.md) is made by the
    # jobs role once this many entries, or this many minutes, have passed since the last.
    checkpoint_entries: int = 1000
    checkpoint_minutes: float = 15.0


@dataclasses.dataclass(frozen=True)
class BackupConfig:
    """Scheduled backup sets (docs/design/backup.md): the jobs role brings the set in
    ``folder`` up to date every ``interval_hours``; a failed or incomplete run raises the
    ``backup_failed`` alarm. Empty folder: no schedule (``vms backup create`` by hand)."""

    folder: str = ""
    interval_hours: float = 24.0

    def __post_init__(self) -> None:
        if not (self.interval_hours > 0 and math.isfinite(self.interval_hours)):
            raise InvalidArgument(
                f"[backup] interval_hours must be above 0, not {self.interval_hours}"
            )
        if self.folder and not Path(self.folder).is_absolute():
            raise InvalidArgument(f"[backup] folder must be an absolute path, not {self.folder!r}")


@dataclasses.dataclass(frozen=True)
class ExportsConfig:
    # The longest range one source of an export may span (issue 15, item 6): a longer
    # request is refused up front with a 400 naming the range and this key.
    max_hours: float = 24.0
    # How often the jobs role looks for queued exports (seconds).
    poll_seconds: float = 2.0
    # Exports one user may have queued or running at once (0: no limit); one more is
    # refused with 429. The job runs them one after another, oldest first.
    max_pending_per_user: int = 5

    def __post_init__(self) -> None:
        if not self.max_hours > 0:
            raise InvalidArgument(f"[exports] max_hours must be above 0, not {self.max_hours}")
        if self.max_pending_per_user < 0:
            raise InvalidArgument(
                "[exports] max_pending_per_user must be 0 (no limit) or more, not "
                f"{self.max_pending_per_user}"
            )
        if not self.poll_seconds > 0:
            raise InvalidArgument(
                f"[exports] poll_seconds must be above 0, not {self.poll_seconds}"
            )


@dataclasses.dataclass(frozen=True)
class ReleasesConfig:
    # May a release approver approve a request they logged themselves (issue 16.8)?
    allow_self_approval: bool = False
    # A FOIA request logged without a due date is due this many days after receipt (REL-1).
    foia_due_days: int = 20
    # The longest a share link may stay valid (days) and the most downloads it may allow.
    share_max_days: int = 90
    share_max_downloads: int = 100

    def __post_init__(self) -> None:
        for name in ("foia_due_days", "share_max_days", "share_max_downloads"):
            if getattr(self, name) < 1:
                raise InvalidArgument(f"[releases] {name} must be at least 1")


@dataclasses.dataclass(frozen=True)
class ClusterConfig:
    # This process's name in ``job_leases`` (issue 13.5); empty: host:pid.
    node_id: str = ""
    # How long a cluster-wide job's lease lasts unrenewed (seconds): a dead node's job is
    # taken over this long after its last heartbeat (renewed every third of it).
    job_lease_seconds: float = 60.0
    # Media nodes share the cameras through leases (issue 13.1, recorder/ownership.py):
    # each camera is recorded by one live node, taken over when its lease expires. Off:
    # every media process records every camera (one media node).
    camera_ownership: bool = False
    # How long a camera's lease lasts unrenewed (seconds; renewed every reconcile round,
    # [recorder] reconcile_seconds, which must be shorter).
    camera_lease_seconds: float = 10.0
    # Cameras this node takes at most (0: no limit), and the URL other roles reach it at.
    capacity: int = 0
    internal_url: str = ""
    # How long a web process waits for a media node's internal API (issue 13.2), per
    # connection attempt and per read, before it answers 503 naming the node.
    internal_timeout_seconds: float = 5.0

    @property
    def camera_lease(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.camera_lease_seconds)

    def __post_init__(self) -> None:
        if not self.camera_lease_seconds >= 1:
            raise InvalidArgument(
                f"[cluster] camera_lease_seconds must be at least 1, not "
                f"{self.camera_lease_seconds}"
            )
        if not 0 < self.internal_timeout_seconds <= 300:
            raise InvalidArgument(
                "[cluster] internal_timeout_seconds must be above 0 and at most 300, not "
                f"{self.internal_timeout_seconds}"
            )
        if self.capacity < 0:
            raise InvalidArgument(f"[cluster] capacity must be 0 or more, not {self.capacity}")
        if not self.job_lease_seconds >= 1:
            raise InvalidArgument(
                f"[cluster] job_lease_seconds must be at least 1, not {self.job_lease_seconds}"
            )
        url = urlsplit(self.internal_url)
        if self.internal_url and (url.scheme not in ("http", "https") or not url.hostname):
            # Advertised to web processes, which forward PTZ, snapshots and WHEP there.
            raise InvalidArgument(
                f"[cluster] internal_url: {self.internal_url!r} is not an http:// or "
                "https:// URL with a host"
            )
        if len(self.node_id) > 200:
            raise InvalidArgument(
                f"[cluster] node_id is at most 200 characters, not {len(self.node_id)}"
            )
        if self.node_id and not self.node_id.strip():
            # Empty is host:pid; blank was taken as the name itself, one invisible name
            # shared by every process given it, each taking the others' leases for its own
            # (INV-9; vms/leases.py, recorder/ownership.py).
            raise InvalidArgument(
                f"[cluster] node_id {self.node_id!r} is blank: name the node (e.g. "
                '"media-1"), or leave it empty for host:pid'
            )


@dataclasses.dataclass(frozen=True)
class Config:
    data_dir: Path = Path("./var")
    # Default: SQLite in the data dir.
    database_url: str = ""
    log_level: str = "INFO"
    # An agency preset (vms/policy/agencies): "ct-post", "denver-bwc" or "norwich-pscs";
    # empty: none. Explicit settings override the preset's values.
    policy_preset: str = ""
    # Redis (a redis:// URL) shared by the processes of a deployment: the cross-process
    # event bus and Socket.IO's message queue. Empty: everything stays in-process.
    redis_url: str = ""
    # Names the deployment's Redis channels (``<prefix>:events``, ``<prefix>:socketio``),
    # so two deployments (or test runs) can share one Redis without hearing each other.
    redis_prefix: str = "vms"
    # The agency's time zone (an IANA name: "America/Chicago"): a monthly report's month
    # and the PTZ report's normal hours ([ptz] allowed_hours) are the agency's, not UTC's.
    # Times are still stored, given and shown in UTC (docs/design/time.md).
    time_zone: str = "UTC"
    web: WebConfig = dataclasses.field(default_factory=WebConfig)
    ingest: IngestConfig = dataclasses.field(default_factory=IngestConfig)
    store: StoreConfig = dataclasses.field(default_factory=StoreConfig)
    recorder: RecorderConfig = dataclasses.field(default_factory=RecorderConfig)
    webrtc: WebrtcConfig = dataclasses.field(default_factory=WebrtcConfig)
    privacy_masks: PrivacyMasksConfig = dataclasses.field(default_factory=PrivacyMasksConfig)
    redaction: RedactionConfig = dataclasses.field(default_factory=RedactionConfig)
    retention: RetentionConfig = dataclasses.field(default_factory=RetentionConfig)
    tagging: TaggingConfig = dataclasses.field(default_factory=TaggingConfig)
    access: AccessConfig = dataclasses.field(default_factory=AccessConfig)
    reviews: ReviewsConfig = dataclasses.field(default_factory=ReviewsConfig)
    cameras: CamerasConfig = dataclasses.field(default_factory=CamerasConfig)
    ptz: PtzConfig = dataclasses.field(default_factory=PtzConfig)
    audit: AuditConfig = dataclasses.field(default_factory=AuditConfig)
    backup: BackupConfig = dataclasses.field(default_factory=BackupConfig)
    exports: ExportsConfig = dataclasses.field(default_factory=ExportsConfig)
    releases: ReleasesConfig = dataclasses.field(default_factory=ReleasesConfig)
    cluster: ClusterConfig = dataclasses.field(default_factory=ClusterConfig)
    ops: OpsConfig = dataclasses.field(default_factory=OpsConfig)

    def __post_init__(self) -> None:
        self.zone  # noqa: B018 (checks the name at load: a typo would skew every report)
        check_log_level(self.log_level, "configuration log_level")
        # A file there failed later with FileExistsError (an empty value: _coerce).
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise InvalidArgument(
                f"configuration data_dir: {str(self.data_dir)!r} is a file, not a folder"
            )
        if not self.database_url and any(c in str(self.data_dir) for c in "?%"):
            # sqlite:///<data_dir>/vms.db: "?" starts the URL's query (the database was a
            # file outside the folder) and "%20" is read as a space (another folder).
            raise InvalidArgument(
                f"configuration data_dir: {str(self.data_dir)!r} holds '?' or '%', which the "
                "default SQLite URL cannot carry: rename the folder or set database_url"
            )
        for f in dataclasses.fields(self):
            if dataclasses.is_dataclass(section := getattr(self, f.name)):
                check_limits(f.name, section)
        if not self.redis_prefix.strip():
            # The channels were ":events" and ":socketio", heard by every deployment
            # sharing the Redis with the same empty prefix.
            raise InvalidArgument(
                f"configuration redis_prefix {self.redis_prefix!r} is empty: it names this "
                'deployment\'s Redis channels (default "vms")'
            )
        check_redis_url(self.redis_url, "redis_url")
        check_redis_url(self.web.message_queue, "[web] message_queue")
        check_pairs(self)

    @property
    def zone(self) -> dt.tzinfo:
        """``time_zone`` as a tzinfo; an unknown name is refused naming the key."""
        try:
            return agency_zone(self.time_zone)
        except ValueError as exc:
            raise InvalidArgument(f"configuration {exc}") from None

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'vms.db').resolve()}"

    @property
    def bus_url(self) -> str:
        """The event bus's Redis: ``redis_url``, else ``[web] message_queue`` (a
        deployment that set only the latter keeps reaching every web process)."""
        return self.redis_url or self.web.message_queue

    @property
    def socketio_queue(self) -> str:
        """Socket.IO's message queue: ``[web] message_queue``, else ``redis_url``."""
        return self.web.message_queue or self.redis_url

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def dock_dir(self) -> Path:
        return self.data_dir / "dock"

    @property
    def secrets_dir(self) -> Path:
        return self.data_dir / "secrets"


def check_redis_url(url: str, key: str) -> None:
    """A Redis URL setting is empty or ``redis://``, ``rediss://`` or ``unix://`` with a
    host or socket path (redis.from_url raised ValueError only when services opened)."""
    if not url:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.hostname or parts.path):
        raise InvalidArgument(
            f"configuration {key}: {redact_credentials(url)!r} is not a redis://, rediss:// "
            "or unix:// URL"
        )


#: The level names ``log_level`` and ``--log-level`` take (any case).
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def check_log_level(name: str, where: str) -> str:
    """``name`` as a logging level name, upper case; another is refused naming ``where``
    (logging.basicConfig would raise ValueError only once the command had started)."""
    if name.strip().upper() not in LOG_LEVELS:
        raise InvalidArgument(f"{where}: {name!r} is not a level ({', '.join(LOG_LEVELS)})")
    return name.strip().upper()
