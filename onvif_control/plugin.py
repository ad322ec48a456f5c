"""Installs camera control into :class:`~vms.services.Services` (entry point
``vms.plugins``; ``vms`` never imports this package).

``install`` builds the services and provides these ports (``services.ports``,
:mod:`vms.ports`):

- :class:`CameraControl`: the bundle below (for ``web`` and the CLIs);
- :class:`~vms.ports.PoseSource`: the :class:`~onvif_control.pose.PoseTracker` the media
  pipeline reads (INV-5);
- :class:`~vms.ports.CredentialBox`: the box of the stored camera passwords (the
  recorder's registry reads it);
- :class:`~vms.ports.KeyframeRequest`: ONVIF ``SetSynchronizationPoint``, which the
  recorder uses when a WebRTC viewer joins a pass-through camera
  (:mod:`onvif_control.keyframes`);
- :class:`~vms.ports.DemoSetup`: ``vms serve --demo`` (:mod:`onvif_control.demo`).

It reads :class:`~vms.ports.MaskZones` for the PTZ-use report (declared for the web
role) and :class:`~vms.ports.CameraOwnership` for the cameras the pose tracker polls,
appends the jobs ``camera-health`` (OPS-1) and ``ptz-expire`` (idle sessions, A2),
contributes the media role's ``pose-tracker`` component and closes the connections and
the ONVIF loop when the services close. Nothing connects or starts at install: the ONVIF
loop starts on first use, pose polling when the media role starts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from onvif_control.camera_certificates import CameraCertificates
from onvif_control.cameras import CameraService
from onvif_control.connections import Connections
from onvif_control.credentials import CredentialBox
from onvif_control.engine import LocalPtzEngine
from onvif_control.health import HealthMonitor
from onvif_control.keyframes import CameraKeyframes
from onvif_control.pose import PoseTracker
from onvif_control.ptz import PtzService
from onvif_control.ptz_audit import PtzAudit, ZoneSource
from onvif_control.runtime import OnvifRuntime
from vms.ports import (
    CameraOwnership,
    DemoSetup,
    KeyframeRequest,
    MaskZones,
    PoseSource,
    PtzUseReport,
)
from vms.ports import CredentialBox as CredentialBoxPort
from vms.roles import Component
from vms.secrets import load_or_create_key
from vms.services import Job, Services

log = logging.getLogger(__name__)

CREDENTIALS_KEY = "credentials.key"


@dataclass
class CameraControl:
    runtime: OnvifRuntime
    connections: Connections
    cameras: CameraService
    certificates: CameraCertificates
    tracker: PoseTracker
    engine: LocalPtzEngine
    ptz: PtzService
    health: HealthMonitor
    audit: PtzAudit

    def start_media(self) -> None:
        """The media role: track poses (and so enforce limits of continuous moves)."""
        self.tracker.start()

    def close(self) -> None:
        """Stop polling, close camera connections and the ONVIF loop (idempotent)."""
        self.tracker.stop()
        self.connections.close()
        self.runtime.stop()


def owned_cameras(services: Services) -> frozenset[str] | None:
    """The cameras this media node records (the :class:`~vms.ports.CameraOwnership` port
    of ``recorder``, issue 13.1): the pose tracker polls only these. None (every camera)
    without camera ownership or without a recorder in this process."""
    ownership = services.ports.find(CameraOwnership)
    return None if ownership is None else ownership.owned()


def build(services: Services) -> CameraControl:
    cams, ptz_cfg = services.config.cameras, services.config.ptz
    runtime = OnvifRuntime()
    box = CredentialBox(load_or_create_key(services.config.secrets_dir, CREDENTIALS_KEY))
    connections = Connections(
        services.db,
        box,
        runtime,
        cams.command_timeout_seconds,
        services.clock,
        audit=services.audit,
    )
    cameras = CameraService(
        services.db,
        services.audit,
        services.clock,
        services.events,
        services.authoriser,
        box,
        connections,
        cams.command_timeout_seconds,
        stream_hosts=cams.stream_host_list,
    )
    certificates = CameraCertificates(
        services.db,
        services.audit,
        services.clock,
        services.authoriser,
        connections,
        cams.command_timeout_seconds,
    )
    tracker = PoseTracker(
        connections,
        services.clock,
        services.events,
        fast_hz=cams.pose_fast_hz,
        idle_seconds=cams.pose_idle_seconds,
        settle_seconds=cams.pose_settle_seconds,
        history_seconds=cams.pose_history_seconds,
        publish_hz=cams.pose_publish_hz,
        max_reply_seconds=services.config.privacy_masks.latency_seconds,
        scope=lambda: owned_cameras(services),
    )
    engine = LocalPtzEngine(connections, tracker, services.clock)
    ptz = PtzService(
        services.db,
        services.audit,
        services.clock,
        services.events,
        services.authoriser,
        cameras,
        connections,
        engine,
        tracker,
        ptz_cfg,
    )
    tracker.on_limit_stop = ptz.limit_stop

    def zones() -> ZoneSource | None:
        source = services.ports.find(MaskZones)
        return source.zones_of if source is not None else None

    audit = PtzAudit(
        services.db,
        services.audit,
        services.clock,
        services.authoriser,
        ptz_cfg,
        zones,
        zone=services.config.zone,
    )
    health = HealthMonitor(
        services.db, services.audit, services.clock, services.events, connections
    )
    return CameraControl(
        runtime, connections, cameras, certificates, tracker, engine, ptz, health, audit
    )


def install(services: Services) -> None:
    from onvif_control.demo import Demo  # it reads CameraControl from this module

    control = build(services)
    services.ports.provide(CameraControl, control)
    services.ports.provide(PoseSource, control.tracker)
    services.ports.provide(CredentialBoxPort, control.cameras.box)
    services.ports.provide(KeyframeRequest, CameraKeyframes(control.connections))
    services.ports.provide(DemoSetup, Demo(services))
    # The PTZ-use numbers of the monthly audit (vms/audit/monthly.py, OPS-7).
    services.ports.provide(PtzUseReport, control.audit)
    # The PTZ-use report counts commands into masks (PSCS-1, PSCS-5): served by the web
    # role, it must find the mask zones there.
    services.roles.reads("web", MaskZones, "the PTZ-use report (onvif_control)")
    services.roles.add(
        Component("media", "pose-tracker", control.start_media, control.tracker.stop, order=10)
    )
    services.closers.append(control.close)
    services.jobs.append(
        Job(
            "camera-health",
            services.config.cameras.health_interval_seconds,
            control.health.check_all,
        )
    )
    services.jobs.append(
        Job("ptz-expire", max(1.0, min(5.0, control.ptz.idle_seconds / 3)), control.ptz.expire_idle)
    )


def get(services: Services) -> CameraControl:
    return services.ports.get(CameraControl, reader="onvif_control")
