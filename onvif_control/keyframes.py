"""Keyframes on request for the live view of pass-through cameras: the
:class:`~vms.ports.KeyframeRequest` port, with ONVIF Media ``SetSynchronizationPoint``.

A pass-through camera's packets go to WebRTC viewers as the camera encoded them, so a
viewer who joins between two keyframes sees nothing until the camera's next GOP (up to its
GovLength, often 2-4 s, on some cameras 10 s or more). ONVIF Media (ver10, and Media2)
has ``SetSynchronizationPoint(ProfileToken)``, which asks the camera for an I-frame now;
the recorder asks through this port (it may not import this package) and keeps the rate
limit and the memory of cameras that refuse (:mod:`recorder.keyframes`).
"""

from __future__ import annotations

import logging

from onvif_control.connections import Connections
from vms.errors import FailedPrecondition, InvalidArgument, NotFound

log = logging.getLogger(__name__)


class CameraKeyframes:
    """Asks onboarded cameras for keyframes over their ONVIF connections."""

    def __init__(self, connections: Connections) -> None:
        self.connections = connections

    def request_keyframe(self, camera_id: str) -> bool:
        """``SetSynchronizationPoint`` on the camera's recorded profile. False when the
        camera is not onboarded here or refuses the operation (``ActionNotSupported``, or
        a token it does not know); Unavailable (raised) when it does not answer."""
        try:
            record = self.connections.record(camera_id)
            device = self.connections.device(camera_id)
            self.connections.run(device.synchronization_point(record.profile_token))
        except NotFound:
            return False
        except (FailedPrecondition, InvalidArgument) as exc:
            log.info("camera %s: no keyframe on request: %s", camera_id, exc)
            return False
        return True
