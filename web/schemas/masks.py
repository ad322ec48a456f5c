"""Privacy masks API models (PSCS-1).

A polygon is a list of ``[a, b]`` pairs of finite numbers: ``polygon`` in (pan, tilt)
degrees, ``image_polygon`` in 0..1 of the current view. Whether a polygon makes a usable
mask (3 or more vertices, inside the sphere or the picture, at most 180 degrees of pan)
is the service's decision (:mod:`privacy_masks.service`), as is placing a drawn polygon
through the camera's current pose.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, WithJsonSchema

from privacy_masks.model import MAX_NAME, MAX_VERTICES, MaskChange, NewLift, NewMask, Vertex
from privacy_masks.service import MAX_REASON
from web.contract import Number, OutTime, Printable, QueryModel, RequestModel, ResponseModel

Pair = Annotated[list[Number], Field(min_length=2, max_length=2)]


def _polygon_schema(first: tuple[float, float], second: tuple[float, float]) -> dict[str, Any]:
    """The description of a polygon whose vertices' coordinates lie in ``first`` and
    ``second``: what the service accepts (it checks, and names the vertex refused)."""
    coordinate = [{"type": "number", "minimum": lo, "maximum": hi} for lo, hi in (first, second)]
    pair = {"type": "array", "prefixItems": coordinate, "minItems": 2, "maxItems": 2}
    return {"type": "array", "items": pair, "minItems": 3, "maxItems": MAX_VERTICES}


# (pan, tilt) degrees; (x, y) 0..1 of the live view.
SpherePolygon = Annotated[
    list[Pair],
    Field(min_length=1, max_length=MAX_VERTICES),
    WithJsonSchema(_polygon_schema((-180.0, 180.0), (-90.0, 90.0))),
]
ImagePolygon = Annotated[
    list[Pair],
    Field(min_length=1, max_length=MAX_VERTICES),
    WithJsonSchema(_polygon_schema((0.0, 1.0), (0.0, 1.0))),
]


def _vertices(polygon: list[list[float]] | None) -> tuple[Vertex, ...] | None:
    return None if polygon is None else tuple((a, b) for a, b in polygon)


class NewMaskIn(RequestModel):
    """A new mask: a name and either ``polygon`` (degrees) or ``image_polygon`` (0..1 of
    the live view), not both."""

    name: Annotated[str, Printable(MAX_NAME, required=True)]
    polygon: SpherePolygon | None = None
    image_polygon: ImagePolygon | None = None

    def command(self) -> NewMask:
        return NewMask(self.name, _vertices(self.polygon), _vertices(self.image_polygon))


class MaskChangeIn(RequestModel):
    """What changes: the name, the polygon (``polygon`` or ``image_polygon``), or both;
    what is left out stays."""

    name: Annotated[str, Printable(MAX_NAME, required=True)] | None = None
    polygon: SpherePolygon | None = None
    image_polygon: ImagePolygon | None = None

    def command(self) -> MaskChange:
        return MaskChange(self.name, _vertices(self.polygon), _vertices(self.image_polygon))


class MaskOut(ResponseModel):
    id: str
    name: str
    polygon: list[tuple[float, float]]
    since_version: int
    created_at: OutTime
    created_by: str


class MaskListOut(ResponseModel):
    camera_id: str
    version: int
    masks: list[MaskOut]


class MaskDeletedOut(ResponseModel):
    id: str
    deleted: bool
    version: int


# -- lifts (PSCS-1 exceptions) --------------------------------------------------------------


class NewLiftIn(RequestModel):
    """Lift one mask of the camera from now for ``minutes`` (at most the configured
    ``[privacy_masks] max_lift_minutes``), for the stated investigative ``reason`` (a
    warrant number, ...)."""

    mask_id: Annotated[str, Printable(64, required=True, multiline=False)]
    reason: Annotated[str, Printable(MAX_REASON, required=True, multiline=False)]
    minutes: Number

    def command(self) -> NewLift:
        return NewLift(self.mask_id, self.reason, float(self.minutes))


class LiftQuery(QueryModel):
    """``running=true``: only the lifts not yet ended (what the live view's banner shows)."""

    running: bool = False


class MaskLiftOut(ResponseModel):
    """A lift. ``from_version``: the mask version recorded on footage captured while it
    ran; ``to_version``/``ended_at``/``ended_by``: how it ended (``mask-lift-expiry``: at
    ``ends_at``), None while it runs."""

    id: str
    camera_id: str
    mask_id: str
    mask_name: str
    reason: str
    starts_at: OutTime
    ends_at: OutTime
    granted_by: str
    from_version: int
    to_version: int | None
    ended_at: OutTime | None
    ended_by: str | None


class MaskLiftListOut(ResponseModel):
    camera_id: str
    lifts: list[MaskLiftOut]
