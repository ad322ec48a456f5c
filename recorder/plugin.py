"""Installs masks and recording into a :class:`~vms.services.Services` (entry point
``vms.plugins``).

Ports provided (:mod:`vms.ports`): :class:`MaskService`, :class:`RecordingLog`,
:class:`PlaybackService`, :class:`ReviewService` and the :class:`Recorder` engine (for
``web`` and the CLIs),
:class:`~vms.ports.MaskZones` (each camera's mask polygons, for the PTZ-use report of
``onvif_control``),
:class:`~vms.ports.MaskSetup` (masks from named polygons, for the demo set-up) and
:class:`~vms.ports.CameraOwnership` (the cameras this media node holds, for the pose
tracker). Role
component: ``recorder`` in the media role (follow the camera registry, start recording;
it requires the :class:`~vms.ports.CredentialBox` and the :class:`~vms.ports.PoseSource`).
Nothing runs at import or install.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from privacy_masks import plugin as redaction_plugin
from privacy_masks.geometry import SpherePolygon
from privacy_masks.service import MaskService
from recorder.engine import Recorder
from recorder.playback import PlaybackService, SessionSigner
from recorder.recording import RecordingLog
from recorder.review import ReviewService
from vms.audit.log import Who
from vms.ports import (
    CameraOwnership,
    CredentialBox,
    MaskSetup,
    MaskZones,
    PoseSource,
    Vertices,
)
from vms.roles import Component
from vms.secrets import load_or_create_key
from vms.services import Services


@dataclass(frozen=True)
class MaskSetupPort:
    """:class:`~vms.ports.MaskSetup` over the mask service (audited, PSCS-1)."""

    masks: MaskService

    def replace_zones(self, camera_id: str, zones: Sequence[tuple[str, Vertices]], by: Who) -> int:
        polygons = [SpherePolygon(name, tuple(vertices)) for name, vertices in zones]
        return self.masks.replace_all(camera_id, polygons, by)


def start_recording(recorder: Recorder) -> None:
    """The media role: record the registry's cameras and keep following it (#10.14)."""
    recorder.follow_registry()
    recorder.start()


def install(services: Services) -> None:
    masks = MaskService(
        services.db,
        services.audit,
        services.clock,
        services.authoriser,
        services.config.privacy_masks.max_lift_minutes,
    )
    recording = RecordingLog(services.db, services.audit, services.clock, services.authoriser)
    recorder = Recorder(services, masks, recording)
    masks.view_provider = recorder.view
    services.ports.provide(MaskService, masks)
    services.ports.provide(MaskZones, masks)
    services.ports.provide(MaskSetup, MaskSetupPort(masks))
    services.ports.provide(RecordingLog, recording)
    services.ports.provide(
        PlaybackService,
        PlaybackService(
            services.db,
            services.store,
            services.audit,
            services.clock,
            services.authoriser,
            SessionSigner(load_or_create_key(services.config.secrets_dir, "playback.key")),
            dt.timedelta(hours=services.config.recorder.playback_max_hours),
            services.config.access.purpose_list,
        ),
    )
    services.ports.provide(
        ReviewService,
        ReviewService(
            services.db,
            services.audit,
            services.authoriser,
            max_window=dt.timedelta(hours=services.config.recorder.playback_max_hours),
            segment_seconds=services.config.recorder.segment_seconds,
        ),
    )
    services.ports.provide(Recorder, recorder)
    services.ports.provide(CameraOwnership, recorder)  # the pose tracker's cameras (#13.1)
    # Redaction jobs (issue 16.3) belong to privacy_masks, installed with its masks.
    redaction_plugin.install(services)
    services.roles.add(
        Component(
            "media",
            "recorder",
            lambda: start_recording(recorder),
            recorder.stop,
            requires=(CredentialBox, PoseSource),
            order=20,
        )
    )
