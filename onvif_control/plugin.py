"""Installs camera control into :class:`~vms.services.Services` (entry point
``vms.plugins``; ``vms`` never imports this package).

``install`` builds the services and puts them in ``services.extensions``:

- ``"camera_control"``: the :class:`CameraControl` bundle below;
- ``"cameras"``: :class:`~onvif_control.cameras.CameraService` (onboarding, calibration);
- ``"ptz"``: :class:`~onvif_control.ptz.PtzService` (sessions, commands, status);
- ``"pose"``: :class:`~onvif_control.pose.PoseTracker`, the
  :class:`vms.camera_model.PoseSource` the media pipeline reads (INV-5);
- ``"ptz_audit"``: :class:`~onvif_control.ptz_audit.PtzAudit`.

and appends the jobs ``camera-health`` (OPS-1) and ``ptz-expire`` (idle sessions, A2).
Nothing connects or starts at install: the ONVIF loop starts on first use, pose polling
when the media role calls :meth:`CameraControl.start_media`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from onvif_control.cameras import CameraService
from onvif_control.connections import Connections
from onvif_control.credentials import CredentialBox
from onvif_control.engine import LocalPtzEngine
from onvif_control.health import HealthMonitor
from onvif_control.pose import PoseTracker
from onvif_control.ptz import PtzService
from onvif_control.ptz_audit import PtzAudit, ZoneSource
from onvif_control.runtime import OnvifRuntime
from vms.secrets import load_or_create_key
from vms.services import Job, Services

log = logging.getLogger(__name__)

CREDENTIALS_KEY = "credentials.key"


@dataclass
class CameraControl:
    runtime: OnvifRuntime
    connections: Connections
    cameras: CameraService
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


def build(services: Services) -> CameraControl:
    cams, ptz_cfg = services.config.cameras, services.config.ptz
    runtime = OnvifRuntime()
    box = CredentialBox(load_or_create_key(services.config.secrets_dir, CREDENTIALS_KEY))
    connections = Connections(
        services.db, box, runtime, cams.command_timeout_seconds, services.clock
    )
    cameras = CameraService(
        services.db,
        services.audit,
        services.clock,
        services.events,
        services.catalog,
        box,
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
    )
    engine = LocalPtzEngine(connections, tracker, services.clock)
    ptz = PtzService(
        services.db,
        services.audit,
        services.clock,
        services.events,
        services.catalog,
        cameras,
        connections,
        engine,
        tracker,
        ptz_cfg,
    )
    tracker.on_limit_stop = ptz.limit_stop

    def zones() -> ZoneSource | None:
        source: ZoneSource | None = services.extensions.get("mask_zones")
        return source

    audit = PtzAudit(services.db, services.audit, services.clock, services.catalog, ptz_cfg, zones)
    health = HealthMonitor(
        services.db, services.audit, services.clock, services.events, connections
    )
    return CameraControl(runtime, connections, cameras, tracker, engine, ptz, health, audit)


def install(services: Services) -> None:
    control = build(services)
    services.extensions["camera_control"] = control
    services.extensions["cameras"] = control.cameras
    services.extensions["ptz"] = control.ptz
    services.extensions["pose"] = control.tracker
    services.extensions["ptz_audit"] = control.audit
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
    control: CameraControl = services.extensions["camera_control"]
    return control
