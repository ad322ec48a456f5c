"""One camera's image registration state: its reference pictures and the decision, per
frame, to narrow a moving plan (issue 12 item 4; docs/design/mask-geometry.md, item 8).
Pure: no clock, no I/O; the mask stage owns one per camera.

The registration itself (thumbnails, phase correlation, the checks, the narrowed plan)
is :mod:`privacy_masks.registration`; this module decides which frames become
references and which reference a moving frame is registered against.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from privacy_masks.planning import MaskPlan, angle_between
from privacy_masks.registration import (
    F32,
    Reference,
    Registration,
    RegistrationSettings,
    make_reference,
    narrow,
    register,
    usable_reference,
    zoom_range,
)
from vms.camera_model import Calibration, Pose


@dataclass
class RegistrarStats:
    registered: int = 0  # moving frames whose plan was narrowed
    fallbacks: dict[str, int] | None = None  # moving frames kept on telemetry, by reason
    references: int = 0  # pictures kept as references


class Registrar:
    """One camera's registration state: its references (module doc).

    :meth:`observe` takes every non-blank frame's plan and, when needed, its thumbnail:
    an exactly still plan (one anchor, no radius) makes the frame a reference with an
    exact pose; a moving plan is registered against the reference nearest the
    telemetry band and, when every check passes, narrowed. A registered frame far
    enough from its reference becomes a reference too, with the registration's error
    as its own (a chain: errors add up), while that error stays below
    ``max_reference_error`` of the field of view. A reference stays valid while the
    scene does (its pose is a fact about its picture); the newest ``max_references``
    are kept, and a picture that no longer matches fails the checks.
    """

    max_references = 4

    def __init__(self, calibration: Calibration, settings: RegistrationSettings) -> None:
        self.calibration = calibration
        self.settings = settings
        self.references: list[Reference] = []  # newest first
        self._still_frames = 0
        # The still pose and frame size whose picture was last refused as a reference
        # (no texture, a repeating pattern): tried again only when renewal is due, not
        # on every still frame (a blank wall or a night sky would pay the thumbnail and
        # its checks every frame).
        self._refused: tuple[Pose, tuple[int, int]] | None = None
        self.stats = RegistrarStats(fallbacks={})

    def observe(
        self,
        plan: MaskPlan,
        size: tuple[int, int],
        thumb: Callable[[], tuple[F32, int]],
    ) -> MaskPlan | None:
        """The narrowed plan for a frame of ``size`` planned as ``plan``, or None (use
        ``plan``). ``thumb`` makes the frame's thumbnail (and its factor); it is called
        only when needed (a moving plan, or a still one that renews the reference), so a
        still camera with a fresh reference pays nothing."""
        if plan.blank:
            return None
        pose = _exact_pose(plan)
        if pose is not None:
            self._still_frames += 1
            newest = self.references[0] if self.references else None
            due = self._still_frames > self.settings.max_reference_frames
            kept = (
                newest is not None
                and newest.pose == pose
                and newest.error_deg == 0.0
                and newest.size == size
            )
            if due or not (kept or self._refused == (pose, size)):
                image, factor = thumb()
                added = self._add_reference(image, factor, size, pose, 0.0, 0.0)
                self._refused = None if added else (pose, size)
            return None
        if not plan.moving:
            return None
        self._refused = None  # the camera moves: back at rest, its picture is tried again
        image, factor = thumb()
        result = self._register(image, size, plan)
        if isinstance(result, str):
            self._fallback(result)
            return None
        narrowed = narrow(plan, result)
        if narrowed is None:
            self._fallback("outside the telemetry band")
            return None
        self.stats.registered += 1
        self._maybe_chain(image, factor, size, result)
        return narrowed

    def _register(self, image: F32, size: tuple[int, int], plan: MaskPlan) -> Registration | str:
        candidates = [r for r in self.references if r.size == size]
        if not candidates:
            return "no reference"
        centre = _centre(plan)
        width = size[0]

        def distance(ref: Reference) -> float:
            # In fields of view: how far the view moved, and how much it zoomed.
            moved = angle_between(ref.pose, centre) / self.calibration.hfov(ref.pose.zoom)
            zoomed = abs(
                math.log(
                    self.calibration.focal_px(centre.zoom, width)
                    / self.calibration.focal_px(ref.pose.zoom, width)
                )
            )
            return moved + zoomed

        ref = min(candidates, key=distance)
        return register(ref, image, self.calibration, plan.anchors, self.settings)

    def _maybe_chain(
        self, image: F32, factor: int, size: tuple[int, int], result: Registration
    ) -> None:
        h, w = image.shape
        dx, dy = result.shift
        rekey = self.settings.rekey_fraction
        far = abs(dx) > rekey * w or abs(dy) > rekey * h or abs(math.log(result.scale)) > rekey
        limit = self.settings.max_reference_error * self.calibration.hfov(result.pose.zoom)
        if far and result.radius_deg <= limit and result.focal_error <= 0.1:
            self._add_reference(
                image, factor, size, result.pose, result.radius_deg, result.focal_error
            )

    def _add_reference(
        self,
        image: F32,
        factor: int,
        size: tuple[int, int],
        pose: Pose,
        error: float,
        focal_error: float,
    ) -> bool:
        """Keep ``image`` as the newest reference unless it has no texture or repeats
        (then the older references stay: their poses are still facts); whether it was
        kept."""
        if error == 0.0:
            self._still_frames = 0
        if usable_reference(image, self.settings) is not None:
            return False
        ref = make_reference(image, factor, size, pose, error, self.calibration, focal_error)
        kept = [r for r in self.references if r.pose != pose]
        self.references = [ref, *kept][: self.max_references]
        self.stats.references += 1
        return True

    def _fallback(self, reason: str) -> None:
        assert self.stats.fallbacks is not None
        self.stats.fallbacks[reason] = self.stats.fallbacks.get(reason, 0) + 1


def _centre(plan: MaskPlan) -> Pose:
    """The middle of a plan's anchors (pan, tilt and zoom ranges)."""
    pans = [a.pose.pan for a in plan.anchors]
    base = pans[0]
    offsets = [(p - base + 180.0) % 360.0 - 180.0 for p in pans]
    pan = base + (min(offsets) + max(offsets)) / 2.0
    tilts = [a.pose.tilt for a in plan.anchors]
    lo, hi = zoom_range(plan)
    return Pose((pan + 180.0) % 360.0 - 180.0, (min(tilts) + max(tilts)) / 2.0, (lo + hi) / 2.0)


def _exact_pose(plan: MaskPlan) -> Pose | None:
    """The pose of an exactly still plan (one anchor, no radius: two equal still samples
    around the frame), else None."""
    if plan.blank or plan.moving or len(plan.anchors) != 1:
        return None
    anchor = plan.anchors[0]
    if anchor.radius_deg != 0.0 or anchor.zoom_radius != 0.0:
        return None
    return anchor.pose
