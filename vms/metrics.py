"""Prometheus metrics (issue 13, item 7; docs/design/operations.md).

Two kinds:

- **Measured in this process** (module-level, in :data:`REGISTRY`): ingest latency per
  source (``fixed`` is a recorded segment), PTZ command latency per operation and
  outcome, open live MJPEG streams and Socket.IO connections, and the process's own CPU
  and memory. Each process of a deployment reports its own; Prometheus adds them up.
- **Read from the database at scrape** (:class:`DatabaseCollector`): cameras by health,
  each camera's recording switch and whether it is up, recording gaps by cause (open and
  recorded), and the job queues (exports and redactions queued or running). These are
  the deployment's, the same from every process.

Labels are camera ids, sources, operations, states and causes: never a user name, a URL
or a credential (who may read ``/metrics`` at all: :func:`metrics_allowed`).
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
import logging
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from vms.clock import Clock
from vms.db.engine import Database
from vms.db.models import (
    Camera,
    CameraLease,
    Export,
    MediaNode,
    RecordingGap,
    RecordingState,
    Redaction,
)

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TOKEN_FILE = "metrics.token"  # noqa: S105 (a file name) - in the secrets folder; absent: local clients only
QUEUE_STATES = ("queued", "running")

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
INGEST_SECONDS = Histogram(
    "vms_ingest_seconds",
    "Time to ingest one file through the single ingest path (copy, hash, place, "
    "catalogue); source=fixed are recorded camera segments.",
    ["source"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
PTZ_COMMAND_SECONDS = Histogram(
    "vms_ptz_command_seconds",
    "Time from a PTZ command's arrival in the service to its answer (the camera's "
    "included); outcome=ok or refused.",
    ["op", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
LIVE_VIEWERS = Gauge(
    "vms_live_viewers", "Open live MJPEG streams served by this process.", registry=REGISTRY
)
SOCKET_CONNECTIONS = Gauge(
    "vms_socketio_connections",
    "Signed-in Socket.IO connections of this process.",
    registry=REGISTRY,
)


class DatabaseCollector(Collector):
    """The deployment's state (camera health, OPS-1; gaps, OPS-4), read in one short
    read-only session per scrape. With the database away it reports
    ``vms_database_up 0`` instead of failing the scrape."""

    def __init__(self, db: Database, clock: Clock, lease: dt.timedelta) -> None:
        self.db = db
        self.clock = clock
        self.lease = lease

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("vms_database_up", "Whether the scrape could read the database.")
        try:
            metrics = list(self._read())
        except Exception as exc:
            log.warning("metrics: cannot read the database: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from metrics

    def _read(self) -> Iterator[Metric]:
        with self.db.session() as s:
            cameras = list(s.execute(select(Camera.id, Camera.health)))
            now = self.clock.now()
            nodes = list(s.execute(select(MediaNode.node_id, MediaNode.heartbeat_at)))
            leases = dict(
                s.execute(
                    select(CameraLease.node_id, func.count())
                    .where(CameraLease.expires_at > now, CameraLease.node_id.is_not(None))
                    .group_by(CameraLease.node_id)
                ).all()
            )
            lease_span = self.lease
            switched = {
                row.camera_id: row.enabled
                for row in s.execute(select(RecordingState.camera_id, RecordingState.enabled))
            }
            gaps = list(
                s.execute(
                    select(RecordingGap.cause, RecordingGap.end.is_(None), func.count()).group_by(
                        RecordingGap.cause, RecordingGap.end.is_(None)
                    )
                )
            )
            queues = [
                (kind, state, count)
                for kind, model in (("export", Export), ("redaction", Redaction))
                for state, count in s.execute(
                    select(model.state, func.count())
                    .where(model.state.in_(QUEUE_STATES))
                    .group_by(model.state)
                )
            ]
        by_health = GaugeMetricFamily(
            "vms_cameras", "Onboarded cameras by health.", labels=["health"]
        )
        counts: dict[str, int] = {}
        for _, health in cameras:
            counts[health] = counts.get(health, 0) + 1
        for health, count in sorted(counts.items()):
            by_health.add_metric([health], count)
        yield by_health
        recording = GaugeMetricFamily(
            "vms_camera_recording_enabled",
            "1 when the camera's recording is switched on (the default), 0 when off.",
            labels=["camera"],
        )
        camera_up = GaugeMetricFamily(
            "vms_camera_up",
            "1 when the camera's last health check found it online.",
            labels=["camera"],
        )
        for camera_id, health in cameras:
            recording.add_metric([camera_id], 1 if switched.get(camera_id, True) else 0)
            camera_up.add_metric([camera_id], 1 if health == "online" else 0)
        yield recording
        yield camera_up
        open_gaps = GaugeMetricFamily(
            "vms_recording_gaps_open",
            "Recording gaps still open, by cause (OPS-4).",
            labels=["cause"],
        )
        all_gaps = GaugeMetricFamily(
            "vms_recording_gaps", "Recording gaps recorded, by cause (OPS-4).", labels=["cause"]
        )
        totals: dict[str, int] = {}
        opened: dict[str, int] = {}
        for cause, is_open, count in gaps:
            totals[cause] = totals.get(cause, 0) + count
            if is_open:
                opened[cause] = opened.get(cause, 0) + count
        for cause in sorted(totals):
            all_gaps.add_metric([cause], totals[cause])
            open_gaps.add_metric([cause], opened.get(cause, 0))
        yield open_gaps
        yield all_gaps
        queue = GaugeMetricFamily(
            "vms_job_queue",
            "Export and redaction jobs waiting (queued) or running.",
            labels=["kind", "state"],
        )
        seen = {(kind, state): count for kind, state, count in queues}
        for kind in ("export", "redaction"):
            for state in QUEUE_STATES:
                queue.add_metric([kind, state], seen.get((kind, state), 0))
        yield queue
        # Media nodes (issue 13.1): alive by heartbeat, and the cameras each records.
        alive = GaugeMetricFamily(
            "vms_media_node_alive",
            "1 while the media node's heartbeat is within a camera lease.",
            labels=["node"],
        )
        held = GaugeMetricFamily(
            "vms_media_node_cameras", "Cameras the media node holds the lease of.", labels=["node"]
        )
        for node_id, heartbeat in sorted(nodes):
            alive.add_metric([node_id], 1 if heartbeat > now - lease_span else 0)
            held.add_metric([node_id], leases.get(node_id, 0))
        yield alive
        yield held


def render(db: Database, clock: Clock, camera_lease: dt.timedelta) -> bytes:
    """The Prometheus text exposition: this process's metrics, then the database's
    (``camera_lease``: how long a media node stays alive without a heartbeat)."""
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(DatabaseCollector(db, clock, camera_lease))
    return generate_latest(REGISTRY) + generate_latest(scrape)


def metrics_allowed(remote_addr: str | None, authorization: str | None, secrets_dir: Path) -> bool:
    """Who may read ``/metrics``: a client on this machine (loopback), or anyone with
    ``Authorization: Bearer <token>`` where the token is the content of
    ``<secrets>/metrics.token`` (no file: local clients only). Behind a reverse proxy on
    this machine set ``[web] trusted_proxies`` so the client's own address counts."""
    try:
        if remote_addr and ipaddress.ip_address(remote_addr).is_loopback:
            return True
    except ValueError:
        pass
    try:
        token = (secrets_dir / TOKEN_FILE).read_text().strip()
    except OSError:
        return False
    if not token or not authorization or not authorization.startswith("Bearer "):
        return False
    # As UTF-8 bytes: compare_digest raises TypeError for non-ASCII text (a 500).
    sent = authorization[len("Bearer ") :].strip().encode("utf-8", "surrogatepass")
    return hmac.compare_digest(sent, token.encode("utf-8"))
