"""Mask values: the commands that change masks, the masks in force, and what the media
pipeline applies. Pure.

A camera's masks form a :class:`MaskSet` stamped with the camera's mask version; every
change (create, update, delete) bumps the version, and each recorded segment names the
version in force (docs/design/recording.md), so anyone can tell which masks a piece of
footage was recorded under (PSCS-1).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from privacy_masks.geometry import SpherePolygon

MAX_NAME = 200
MAX_VERTICES = 256


@dataclass(frozen=True)
class MaskSet:
    """The masks of one camera at one version (version 0: never had a mask)."""

    camera_id: str
    version: int
    polygons: tuple[SpherePolygon, ...]

    @property
    def masked(self) -> bool:
        return bool(self.polygons)


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
