"""Ports: the typed interfaces one package offers another, and the registry that holds them.

A package never looks another one up by a string key. It asks the process's
:class:`Ports` for an implementation by *type*: a protocol declared here when the reader
may not import the provider (the dependency rule, ARCHITECTURE section 2: ``recorder``
never imports ``onvif_control`` and the other way round), or the provider's own class
when the reader may import it (``web`` and the CLIs import ``retention``, ``recorder`` and
``onvif_control``). Each package's plugin (entry point group ``vms.plugins``) provides its
implementations at install; a role component lists the ports it requires and the role
runner (:mod:`vms.roles`) refuses to start when one has no provider, naming the port and
the role. docs/design/ports-and-roles.md explains the choice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Protocol, TypeVar, cast

from vms.audit.log import Who
from vms.auth.permissions import Actor
from vms.camera_model import PoseSource
from vms.errors import FailedPrecondition

__all__ = [
    "CameraOwnership",
    "CredentialBox",
    "DemoSetup",
    "KeyframeRequest",
    "MaskSetup",
    "MaskZones",
    "PortMissing",
    "Ports",
    "PoseSource",
    "PtzUseReport",
    "TaggingReport",
]

T = TypeVar("T")

# A polygon on the view sphere: (pan, tilt) vertices in degrees.
Vertices = Sequence[tuple[float, float]]

# PoseSource (vms.camera_model) is the port through which the media pipeline reads each
# camera's pose (INV-5); provided by onvif_control's pose tracker, read by recorder.


class CredentialBox(Protocol):
    """Decrypts the stored password of a registered camera (provided by
    ``onvif_control``; read by ``recorder`` to build the RTSP URL it records)."""

    def decrypt(self, camera_id: str, stored: str) -> str:
        """The plain password of ``camera_id``; :class:`~vms.errors.DataLoss` or another
        :class:`~vms.errors.VMSError` when ``stored`` cannot be read."""
        ...


class KeyframeRequest(Protocol):
    """Asks a camera for a keyframe now (provided by ``onvif_control`` with ONVIF Media
    ``SetSynchronizationPoint``; read by ``recorder`` when a WebRTC viewer joins a
    pass-through camera or its browser reports picture loss: the packets are the
    camera's own, so only the camera can start a new GOP)."""

    def request_keyframe(self, camera_id: str) -> bool:
        """Ask ``camera_id`` for an I-frame (blocking, bounded by the camera command
        timeout). True: asked; False: it cannot (the camera does not support the request,
        or it is not a camera this process controls), which will not change by asking
        again; :class:`~vms.errors.Unavailable` when the camera did not answer."""
        ...


class CameraOwnership(Protocol):
    """The cameras this media node records (provided by ``recorder`` from its camera
    leases, issue 13.1; read by ``onvif_control``'s pose tracker, which polls and keeps
    ONVIF connections to those cameras only)."""

    def owned(self) -> frozenset[str] | None:
        """The cameras whose lease this node holds; None when camera ownership is off
        (every media node records every camera)."""
        ...


class MaskZones(Protocol):
    """The privacy-mask polygons in force per camera (provided by ``recorder`` from its
    mask service; read by ``onvif_control``'s PTZ-use report, PSCS-1, PSCS-5)."""

    def zones(self, camera_id: str) -> Sequence[Vertices]:
        """The (pan, tilt) polygons of the masks in force on ``camera_id``."""
        ...

    def zones_of(self, camera_ids: Sequence[str]) -> Mapping[str, Sequence[Vertices]]:
        """:meth:`zones` of each of ``camera_ids``, read at once (a report covers
        hundreds of cameras)."""
        ...


class MaskSetup(Protocol):
    """Sets a camera's privacy masks from named polygons, audited as ``by`` (provided by
    ``recorder``; read by the demo set-up of ``onvif_control``)."""

    def replace_zones(self, camera_id: str, zones: Sequence[tuple[str, Vertices]], by: Who) -> int:
        """Make ``zones`` exactly the masks of ``camera_id``; returns the mask version."""
        ...


class DemoSetup(Protocol):
    """``vms serve --demo``: demo users and simulated cameras (provided by
    ``onvif_control``, which owns the simulator; read by the role runner)."""

    def start(self, roles: Sequence[str]) -> None:
        """Add the demo users, print them, start and onboard the simulated cameras; their
        private zones become masks when ``roles`` include the media role."""
        ...

    def stop(self) -> None:
        """Stop the simulated cameras (idempotent)."""
        ...


# The values the two report ports return (not ports themselves: not in __all__).
class PtzUseRow(Protocol):
    """One (user, camera) row of the PTZ-use report."""

    @property
    def user(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def camera_id(self) -> str: ...
    @property
    def sessions(self) -> int: ...
    @property
    def sessions_outside_hours(self) -> int: ...
    @property
    def commands(self) -> int: ...
    @property
    def commands_refused(self) -> int: ...
    @property
    def commands_into_masks(self) -> int: ...
    @property
    def seconds_in_control(self) -> float: ...


class PtzUse(Protocol):
    """The PTZ-use report of a period: its rows."""

    @property
    def rows(self) -> Sequence[PtzUseRow]: ...


class PtzUseReport(Protocol):
    """The PTZ-use report (provided by ``onvif_control``'s PTZ audit; read by the
    monthly audit, OPS-7, so both show the same numbers)."""

    def report(self, actor: Actor, start: dt.datetime, end: dt.datetime) -> PtzUse:
        """The report of [start, end) for ``actor`` (audit.read; the reading audited)."""
        ...


class MonthlyTagging(Protocol):
    """The TAG-7 numbers of a month."""

    @property
    def untagged_not_requiring_tags(self) -> Mapping[str, int]: ...
    @property
    def tagging_failures_per_officer(self) -> Mapping[str, int]: ...


class TaggingReport(Protocol):
    """The TAG-7 monthly tagging report (provided by ``retention``'s reports; read by
    the monthly audit)."""

    def monthly(self, actor: Actor, month: str) -> MonthlyTagging:
        """The tagging numbers of ``month`` (YYYY-MM) for ``actor`` (retention.read)."""
        ...


class PortMissing(FailedPrecondition):
    """A port is read that no installed plugin provides."""


def port_name(port: type) -> str:
    return f"{port.__module__}.{port.__qualname__}"


class Ports:
    """Implementations by port type, one per port, provided at plugin install."""

    def __init__(self) -> None:
        self._impls: dict[type, object] = {}

    def provide(self, port: type[T], impl: T) -> None:
        """Register ``impl`` for ``port``; a second provider is a wiring error."""
        if port in self._impls:
            raise FailedPrecondition(f"port {port_name(port)} is provided twice")
        self._impls[port] = impl

    def find(self, port: type[T]) -> T | None:
        """The implementation of ``port``, or None when nothing provides it."""
        return cast("T | None", self._impls.get(port))

    def get(self, port: type[T], *, reader: str = "") -> T:
        """The implementation of ``port``; :class:`PortMissing` naming it otherwise."""
        impl = self._impls.get(port)
        if impl is None:
            needed = f" (needed by {reader})" if reader else ""
            raise PortMissing(
                f"port {port_name(port)} has no provider{needed}: is the plugin that "
                "provides it installed (entry points group vms.plugins)?"
            )
        return cast("T", impl)

    def withdraw(self, port: type) -> None:
        """Forget the provider of ``port`` (tests of a process without a plugin)."""
        self._impls.pop(port, None)

    def provided(self) -> frozenset[type]:
        return frozenset(self._impls)
