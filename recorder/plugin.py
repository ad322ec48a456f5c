"""Installs masks and recording into a :class:`~vms.services.Services` (entry point
``vms.plugins``): ``extensions["masks"]`` (:class:`MaskService`), ``extensions
["mask_zones"]`` (each camera's mask polygons, for the PTZ-use report of
``onvif_control``), ``extensions["recording"]`` (:class:`RecordingLog`) and
``extensions["recorder"]`` (the engine; its cameras start only when the media role calls
:meth:`Recorder.start`). Nothing runs at import or install."""

from __future__ import annotations

from privacy_masks.service import MaskService
from recorder.engine import Recorder
from recorder.recording import RecordingLog
from vms.services import Services


def install(services: Services) -> None:
    masks = MaskService(services.db, services.audit, services.clock, services.authoriser)
    recording = RecordingLog(services.db, services.audit, services.clock, services.authoriser)
    recorder = Recorder(services, masks, recording)
    masks.view_provider = recorder.view
    services.extensions["masks"] = masks
    services.extensions["mask_zones"] = masks.zones
    services.extensions["recording"] = recording
    services.extensions["recorder"] = recorder
