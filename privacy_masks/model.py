"""Mask values: the commands that change masks, the masks in force, and what the media
pipeline applies. Pure.

A camera's masks form a :class:`MaskSet` stamped with the camera's mask version; every
change (create, update, delete) bumps the version, and each recorded segment names the
version in force (docs/design/recording.md), so anyone can tell which masks a piece of
footage was recorded under (PSCS-1).

A *lift* (PSCS-1 exception, issue 14 item 6) takes one mask of one camera out of force
for a bounded window, for a stated investigative reason: granting and ending it bump the
version too, so the footage captured with the mask lifted carries its own version(s)
(the lift records ``from_version``/``to_version``). The pipeline gets the lift windows
with the :class:`MaskSet` and the stage leaves a lifted polygon unpainted only for
frames captured inside the window (:meth:`MaskSet.in_force`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from privacy_masks.geometry import SpherePolygon

MAX_NAME = 200
MAX_VERTICES = 256


@dataclass(frozen=True)
class LiftWindow:
    """Polygon ``index`` of a :class:`MaskSet` is lifted for frames captured in
    [``starts``, ``ends``) (PSCS-1 exception)."""

    index: int
    lift_id: str
    starts: dt.datetime
    ends: dt.datetime

    def covers(self, at: dt.datetime) -> bool:
        return self.starts <= at < self.ends


@dataclass(frozen=True)
class MaskSet:
    """The masks of one camera at one version (version 0: never had a mask), with the
    lifts granted on them (``lifts``: windows; a lifted mask stays in ``polygons``, so a
    camera whose every mask is lifted still goes through the mask stage)."""

    camera_id: str
    version: int
    polygons: tuple[SpherePolygon, ...]
    lifts: tuple[LiftWindow, ...] = ()

    @property
    def masked(self) -> bool:
        return bool(self.polygons)

    def in_force(
        self, captured: dt.datetime, now: dt.datetime | None = None
    ) -> tuple[SpherePolygon, ...]:
        """The polygons to paint on a frame captured at ``captured`` (PSCS-1): all but
        those lifted at that instant. Fail closed: a lift whose window has ended by
        ``now`` (the clock) lifts nothing, even for a frame stamped inside it."""
        if not self.lifts:
            return self.polygons
        lifted = {
            w.index for w in self.lifts if w.covers(captured) and (now is None or w.covers(now))
        }
        return tuple(p for i, p in enumerate(self.polygons) if i not in lifted)


Vertex = tuple[float, float]


@dataclass(frozen=True)
class NewMask:
    """Create a mask: a name plus either a sphere polygon (``polygon``, (pan, tilt)
    degrees) or a polygon drawn on the live image (``image_polygon``, 0..1 of the current
    view), exactly one of the two."""

    name: str
    polygon: tuple[Vertex, ...] | None = None
    image_polygon: tuple[Vertex, ...] | None = None


@dataclass(frozen=True)
class MaskChange:
    """Change a mask: a new name, a new polygon (sphere or image, not both), or both;
    None keeps what the mask has."""

    name: str | None = None
    polygon: tuple[Vertex, ...] | None = None
    image_polygon: tuple[Vertex, ...] | None = None


@dataclass(frozen=True)
class MaskRecord:
    """A mask in force: its polygon in (pan, tilt) degrees and the version it has been in
    force since."""

    id: str
    name: str
    polygon: tuple[Vertex, ...]
    since_version: int
    created_at: dt.datetime
    created_by: str


@dataclass(frozen=True)
class MaskListing:
    """The masks of one camera in force now, at the camera's mask version."""

    camera_id: str
    version: int
    masks: tuple[MaskRecord, ...]


@dataclass(frozen=True)
class NewLift:
    """Lift one mask for ``minutes`` from now, for ``reason`` (PSCS-1 exception)."""

    mask_id: str
    reason: str
    minutes: float


@dataclass(frozen=True)
class MaskLift:
    """A granted lift of one mask of one camera. ``from_version``: the camera's mask
    version while it is in force (footage recorded under it may show the private area);
    ``to_version``: the version that ended it (None while it runs or until the expiry is
    recorded). ``ended_by``: who ended it early, or ``"expiry"``."""

    id: str
    camera_id: str
    mask_id: str
    mask_name: str
    reason: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    granted_by: str
    from_version: int
    to_version: int | None
    ended_at: dt.datetime | None
    ended_by: str | None

    def active(self, now: dt.datetime) -> bool:
        return self.ended_at is None and self.starts_at <= now < self.ends_at


@dataclass(frozen=True)
class MaskDeleted:
    """A deleted mask and the camera's mask version after the deletion."""

    id: str
    version: int
    deleted: bool = True


def check_image_polygon(vertices: tuple[Vertex, ...]) -> None:
    """Raise ValueError unless ``vertices`` (0..1 of the view) can be a mask drawn on the
    image: 3 or more points, each inside the picture (names the value)."""
    if len(vertices) < 3:
        raise ValueError(f"needs 3 or more points, got {len(vertices)}")
    if len(vertices) > MAX_VERTICES:
        raise ValueError(f"may have at most {MAX_VERTICES} points, got {len(vertices)}")
    for x, y in vertices:
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(f"point [{x}, {y}] is outside 0..1")
