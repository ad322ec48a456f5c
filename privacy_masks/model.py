"""Mask values: what the API accepts and what the media pipeline applies. Pure.

A camera's masks form a :class:`MaskSet` stamped with the camera's mask version; every
change (create, update, delete) bumps the version, and each recorded segment names the
version in force (docs/design/recording.md), so anyone can tell which masks a piece of
footage was recorded under (PSCS-1).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from privacy_masks.geometry import SpherePolygon, validate_sphere_polygon
from vms.bounded import parse_number, shown

MAX_NAME = 200


@dataclass(frozen=True)
class MaskSet:
    """The masks of one camera at one version (version 0: never had a mask)."""

    camera_id: str
    version: int
    polygons: tuple[SpherePolygon, ...]

    @property
    def masked(self) -> bool:
        return bool(self.polygons)


@dataclass(frozen=True)
class MaskInput:
    """A parsed request body: a name plus either a sphere polygon or an image polygon."""

    name: str
    polygon: tuple[tuple[float, float], ...] | None
    image_polygon: tuple[tuple[float, float], ...] | None


def _pairs(value: Any, field: str) -> tuple[tuple[float, float], ...]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"{field} must be a non-empty list of [a, b] pairs")
    out = []
    for item in value:
        if not isinstance(item, list | tuple) or len(item) != 2:
            raise ValueError(f"{field} entry {shown(item)} is not a pair of numbers")
        # Finite and representable: NaN, Infinity and 10**400 are refused (#10.10).
        a, b = (parse_number(v, f"{field} entry") for v in item)
        out.append((a, b))
    return tuple(out)


def parse_mask_body(body: Mapping[str, Any], *, partial: bool = False) -> MaskInput:
    """Parse ``{name, polygon: [[pan, tilt], ...]}`` or ``{name, image_polygon: [[x, y],
    ...]}`` (0..1 of the current view). ``partial`` (PUT) lets ``name`` or the polygon be
    left out. Raises ValueError naming the wrong field and value."""
    unknown = set(body) - {"name", "polygon", "image_polygon"}
    if unknown:
        raise ValueError(
            f"unknown field(s) {sorted(unknown)}; allowed: name, polygon, image_polygon"
        )
    name = body.get("name")
    if name is None and not partial:
        raise ValueError("name is required")
    if name is not None:
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
            raise ValueError(f"name {name!r} must be 1-{MAX_NAME} characters")
        if not name.isprintable():
            raise ValueError(f"name {name!r} must be printable")
        name = name.strip()
    has_sphere, has_image = "polygon" in body, "image_polygon" in body
    if has_sphere and has_image:
        raise ValueError("give either polygon (degrees) or image_polygon (0..1), not both")
    if not (has_sphere or has_image) and not partial:
        raise ValueError("polygon (degrees) or image_polygon (0..1 of the view) is required")
    polygon = _pairs(body["polygon"], "polygon") if has_sphere else None
    if polygon is not None:
        validate_sphere_polygon(polygon)
    image = _pairs(body["image_polygon"], "image_polygon") if has_image else None
    if image is not None:
        if len(image) < 3:
            raise ValueError(f"image_polygon needs 3 or more points, got {len(image)}")
        for x, y in image:
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(f"image_polygon point [{x}, {y}] is outside 0..1")
    return MaskInput(name or "", polygon, image)


def mask_json(
    mask_id: str,
    name: str,
    polygon: list[list[float]],
    version: int,
    created_at: dt.datetime,
    created_by: str,
) -> dict[str, Any]:
    return {
        "id": mask_id,
        "name": name,
        "polygon": polygon,
        "since_version": version,
        "created_at": created_at.isoformat(),
        "created_by": created_by,
    }
